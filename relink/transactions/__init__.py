"""Transactions and owners refreshed from banks."""
