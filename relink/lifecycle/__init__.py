"""The connection lifecycle: transitions of authorizations and accounts, with their events."""
