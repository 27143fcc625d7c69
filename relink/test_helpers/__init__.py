"""Sandbox-only helpers that put accounts into any state (spec 10-api "Test helpers")."""
