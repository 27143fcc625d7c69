"""Events (``evt_``): records of state changes, delivered to webhook endpoints."""
