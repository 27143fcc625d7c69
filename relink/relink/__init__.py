"""Hosted relink: bulk requests, secure links, the holder's flow at the bank, the repair."""
