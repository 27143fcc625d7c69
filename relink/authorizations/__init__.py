"""Authorizations (``fcauth_``): one consent at one institution; what relink repairs."""
