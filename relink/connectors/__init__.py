"""Connectors: how Relink talks to banks. See `base.py` for the interface."""
