"""Scoped queries of a platform's API keys (one mode's keys at a time)."""

from __future__ import annotations

from relink.models import ApiKey
from relink.tenancy import ScopedRepository


class ApiKeyRepository(ScopedRepository[ApiKey]):
    model = ApiKey
    object_name = "api_key"
