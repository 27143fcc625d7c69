"""The durable outbox: enqueue in the business transaction, claim and dispatch in the worker."""
