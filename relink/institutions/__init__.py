"""Institutions (``fcinst_``): banks, served by connectors."""
