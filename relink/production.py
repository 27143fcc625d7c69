"""Guards for ``RELINK_ENV=production``."""

from __future__ import annotations

from urllib.parse import urlsplit

from relink.config import Settings

# 256 bits: the key encrypts bank grants and derives link tokens and CSRF keys.
MIN_SECRET_KEY_BYTES = 32


def check_production_settings(settings: Settings) -> str | None:
    """Why this configuration must not run in production, or ``None`` if it may."""
    if settings.env != "production":
        return None
    if not settings.secret_key:
        return (
            "RELINK_SECRET_KEY must be set in production (a generated key is for development only)."
        )
    if len(settings.secret_key.encode()) < MIN_SECRET_KEY_BYTES:
        return (
            f"RELINK_SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production "
            "(e.g. the output of `openssl rand -base64 48`)."
        )
    public = urlsplit(settings.public_url)
    if public.scheme != "https" or not public.hostname:
        return (
            "RELINK_PUBLIC_URL must be an https URL in production: hosted links, sign-in "
            "cookies and bank callbacks travel over it."
        )
    if settings.email_backend == "mailbox":
        return "RELINK_EMAIL_BACKEND=mailbox is for development; configure smtp in production."
    if settings.email_backend == "smtp" and not settings.smtp_host:
        return "RELINK_EMAIL_BACKEND=smtp needs RELINK_SMTP_HOST."
    if settings.bench_hello:
        return (
            "RELINK_BENCH_HELLO is for benchmarks only: its routes run SQL a benchmark sends "
            "and must never be served in production."
        )
    if settings.is_sqlite and not settings.allow_sqlite_in_production:
        return (
            "SQLite in production needs an explicit opt-in (RELINK_ALLOW_SQLITE_IN_PRODUCTION=true); "
            "use PostgreSQL to run several processes."
        )
    return None
