"""Bulk relink requests: one hosted email session per eligible selected account."""
