"""Platforms, team users and API keys."""
