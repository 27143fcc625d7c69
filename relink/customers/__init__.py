"""Customers (``cus_``): account holders with an email address for relink emails."""
