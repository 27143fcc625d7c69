"""Financial Connections sessions (``fcsess_``): link sessions and relink sessions."""
