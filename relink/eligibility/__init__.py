"""Who may receive a hosted relink request (spec 20-relink §1)."""
