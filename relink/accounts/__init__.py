"""Financial Connections accounts (``fca_``)."""
