"""What every server-rendered page shares: templates, translations, CSRF, security headers."""
