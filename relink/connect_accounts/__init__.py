"""Connect connected accounts (``acct_``), the second kind of account holder."""
