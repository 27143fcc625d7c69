"""RELINK_ENV=production refuses configurations meant for development."""

from __future__ import annotations

import pytest

from relink.config import Settings
from relink.production import check_production_settings

GOOD = {
    "env": "production",
    "secret_key": "a-real-secret-of-enough-length-for-production-use",
    "email_backend": "smtp",
    "smtp_host": "smtp.example.com",
    "database_url": "postgresql+psycopg://relink@db/relink",
}


def _settings(**changes: object) -> Settings:
    return Settings(**{**GOOD, **changes}, _env_file=None)  # type: ignore[arg-type]


def test_a_complete_production_configuration_is_accepted() -> None:
    assert check_production_settings(_settings()) is None


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"secret_key": None}, "RELINK_SECRET_KEY"),
        ({"email_backend": "mailbox"}, "RELINK_EMAIL_BACKEND"),
        ({"smtp_host": None}, "RELINK_SMTP_HOST"),
        ({"database_url": "sqlite:///./var/relink.db"}, "RELINK_ALLOW_SQLITE_IN_PRODUCTION"),
    ],
)
def test_production_refuses_development_settings(changes: dict[str, object], names: str) -> None:
    problem = check_production_settings(_settings(**changes))
    assert problem is not None and names in problem


def test_sqlite_in_production_needs_the_explicit_opt_in() -> None:
    settings = _settings(database_url="sqlite:///./var/relink.db", allow_sqlite_in_production=True)
    assert check_production_settings(settings) is None


def test_development_accepts_anything() -> None:
    assert check_production_settings(Settings(env="development", _env_file=None)) is None  # type: ignore[call-arg]
