"""Automatic relink: a per platform and mode policy that requests and reminds by itself."""
