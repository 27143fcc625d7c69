"""Domain-free helpers: ids, clock, form decoding, errors, crypto."""
