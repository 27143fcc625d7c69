"""The bulk request's sizes, apart so that the command line reads them without importing
the request machinery."""

# Accounts per keyset batch: one transaction's worth of sessions, timeline and outbox rows.
DEFAULT_BATCH_SIZE = 5000
