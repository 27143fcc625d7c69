"""Guards for ``RELINK_ENV=production``."""

from __future__ import annotations

from relink.config import Settings


def check_production_settings(settings: Settings) -> str | None:
    """Why this configuration must not run in production, or ``None`` if it may."""
    if settings.env != "production":
        return None
    if not settings.secret_key:
        return (
            "RELINK_SECRET_KEY must be set in production (a generated key is for development only)."
        )
    if settings.email_backend == "mailbox":
        return "RELINK_EMAIL_BACKEND=mailbox is for development; configure smtp in production."
    if settings.email_backend == "smtp" and not settings.smtp_host:
        return "RELINK_EMAIL_BACKEND=smtp needs RELINK_SMTP_HOST."
    if settings.is_sqlite and not settings.allow_sqlite_in_production:
        return (
            "SQLite in production needs an explicit opt-in (RELINK_ALLOW_SQLITE_IN_PRODUCTION=true); "
            "use PostgreSQL to run several processes."
        )
    return None
