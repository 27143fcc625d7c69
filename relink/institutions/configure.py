"""Institutions an operator configures: add, update, disable, enable, list, import.

An institution is named by the operator (``relink institutions``, a catalog file) with
its connector and the connector's settings. Everything is checked before anything is
stored: the connector must exist, the settings must pass its ``check_settings``, the
mutual-TLS files must be PEM (a certificate, an unencrypted private key that matches it).

Secrets — the connector's ``secret_names`` and the TLS files' contents — are sealed with
the secret key like grants are; they are never logged, rendered or printed. Only their
names are ever shown.

Services never commit: the caller's unit of work does. An import is all-or-nothing: every
entry is checked first, and a bad one raises before any row changes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from relink.connectors.base import InvalidConnectorSettings
from relink.connectors.registry import UnknownConnector, connector_kind
from relink.institutions.catalog import SANDBOX_CATALOG
from relink.institutions.connectors import resolve_settings
from relink.institutions.secrets import (
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    TLS_FILES,
    open_secrets,
    seal_secrets,
)
from relink.kit import clock, ids
from relink.models import Institution
from relink.runtime import Runtime

FEATURES = ("balances", "ownership", "payment_method", "transactions")
# The keys of an entry that are the institution's own; every other key is a setting.
ENTRY_KEYS = ("id", "name", "connector", "country", "bic", "url", "livemode", "features")
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ID = re.compile(r"^fcinst_[A-Za-z0-9_]{1,60}$")
_BUILT_IN = frozenset(spec.institution_id for spec in SANDBOX_CATALOG)


class InstitutionConfigError(ValueError):
    """A configuration that cannot be stored; the message says what to change."""


@dataclass(frozen=True)
class InstitutionConfig:
    """What an operator says about one institution.

    ``settings`` hold the connector's settings, its secrets among them in plain text;
    ``files`` the paths of the TLS files (client_certificate, client_key, ca_certificate),
    whose contents are read and sealed.
    """

    name: str
    connector: str
    country: str
    bic: str | None = None
    livemode: bool = True
    url: str | None = None
    id: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)
    features: Mapping[str, bool] | None = None


@dataclass(frozen=True)
class _Checked:
    """A configuration checked and split: what the row will hold."""

    config: InstitutionConfig
    settings: dict[str, Any]
    secrets: dict[str, str]
    features: dict[str, bool]


@dataclass(frozen=True)
class Outcome:
    institution_id: str
    name: str
    result: str  # "created", "updated" or "unchanged"


# --------------------------------------------------------------------------- checks


def _check_pem(name: str, path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InstitutionConfigError(f"{name}: cannot read {path} ({error.strerror})") from None
    try:
        if name == CLIENT_KEY:
            key = serialization.load_pem_private_key(raw, password=None)
            del key
        else:
            x509.load_pem_x509_certificates(raw)
    except TypeError:
        raise InstitutionConfigError(
            f"{name}: {path} is an encrypted key; give the key unencrypted "
            "(Relink encrypts it at rest)"
        ) from None
    except ValueError:
        kind = "private key" if name == CLIENT_KEY else "certificate"
        raise InstitutionConfigError(f"{name}: {path} is not a PEM {kind}") from None
    return raw.decode("ascii", errors="strict")


def _check_identity(secrets: Mapping[str, str]) -> None:
    certificate, key = secrets.get(CLIENT_CERTIFICATE), secrets.get(CLIENT_KEY)
    if (certificate is None) != (key is None):
        raise InstitutionConfigError("client_certificate and client_key go together: give both")
    if certificate is None or key is None:
        return
    leaf = x509.load_pem_x509_certificates(certificate.encode())[0]
    private = serialization.load_pem_private_key(key.encode(), password=None)
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise InstitutionConfigError("client_key is not the key of client_certificate")


def _check(
    runtime: Runtime, config: InstitutionConfig, kept_secrets: Mapping[str, str]
) -> _Checked:
    """Check a whole configuration; ``kept_secrets`` are the stored ones an update keeps."""
    name = config.name.strip()
    if not name or len(name) > 200:
        raise InstitutionConfigError("name must be 1 to 200 characters")
    if not _COUNTRY.match(config.country):
        raise InstitutionConfigError(
            f"country must be an ISO 3166-1 alpha-2 code such as DE, not {config.country!r}"
        )
    if config.bic is not None and not _BIC.match(config.bic):
        raise InstitutionConfigError(f"bic must be a BIC of 8 or 11 characters, not {config.bic!r}")
    if config.bic is None and config.id is None:
        raise InstitutionConfigError("give a bic (or an id): it is how the institution is found")
    if config.id is not None and not _ID.match(config.id):
        raise InstitutionConfigError(
            f"id must look like fcinst_ followed by letters, digits or _, not {config.id!r}"
        )
    if config.url is not None and not re.match(r"^https?://[^\s]+$", config.url):
        raise InstitutionConfigError(f"url must be an http(s) URL, not {config.url!r}")
    try:
        kind = connector_kind(config.connector)
    except UnknownConnector as error:
        raise InstitutionConfigError(str(error)) from None
    unknown_files = sorted(set(config.files) - set(TLS_FILES))
    if unknown_files:
        raise InstitutionConfigError(f"unknown file(s): {', '.join(unknown_files)}")
    secrets = {k: v for k, v in kept_secrets.items() if k in TLS_FILES or k in kind.secret_names}
    for file_name, path in config.files.items():
        secrets[file_name] = _check_pem(file_name, path)
    settings: dict[str, Any] = {}
    for key, value in config.settings.items():
        if key in TLS_FILES:
            raise InstitutionConfigError(f"{key} is a file: give its path, not its contents")
        if key in kind.secret_names:
            if not isinstance(value, str) or not value:
                raise InstitutionConfigError(f"{key} must be a non-empty string")
            secrets[key] = value
        else:
            settings[key] = value
    own: dict[str, str | None] = {"country": config.country, "bic": config.bic}
    for key in kind.institution_fields:
        if own.get(key) is not None:
            settings[key] = own[key]
    _check_identity(secrets)
    connector_secrets = {k: v for k, v in secrets.items() if k in kind.secret_names}
    try:
        kind.check_settings({**resolve_settings(runtime, settings), **connector_secrets})
    except InvalidConnectorSettings as error:
        raise InstitutionConfigError(f"{config.connector} connector: {error}") from None
    features = {feature: True for feature in FEATURES}
    if config.features is not None:
        unknown = sorted(set(config.features) - set(FEATURES))
        if unknown:
            raise InstitutionConfigError(
                f"unknown feature(s): {', '.join(unknown)} (known: {', '.join(FEATURES)})"
            )
        features.update({k: bool(v) for k, v in config.features.items()})
    return _Checked(replace(config, name=name), settings, secrets, features)


# --------------------------------------------------------------------------- finding


def _find(session: Session, config: InstitutionConfig) -> Institution | None:
    """By id when the configuration has one, else by (mode, connector, bic)."""
    if config.id is not None:
        return session.get(Institution, config.id)
    return session.scalars(
        select(Institution).where(
            Institution.livemode == config.livemode,
            Institution.connector == config.connector,
            Institution.bic == config.bic,
        )
    ).first()


def _identity(config: InstitutionConfig) -> str:
    if config.id is not None:
        return config.id
    mode = "live" if config.livemode else "test"
    return f"{config.connector} {config.bic} ({mode})"


def get_configured(session: Session, institution_id: str) -> Institution:
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise InstitutionConfigError(f"no such institution: {institution_id}")
    return institution


def _refuse_built_in(institution_id: str) -> None:
    if institution_id in _BUILT_IN:
        raise InstitutionConfigError(
            f"{institution_id} is a built-in sandbox institution: it can be disabled or "
            "enabled, not changed"
        )


# --------------------------------------------------------------------------- writing


def _write(
    session: Session, runtime: Runtime, checked: _Checked, row: Institution | None
) -> Outcome:
    config = checked.config
    now = clock.now()
    created = row is None
    if row is None:
        row = Institution(
            id=config.id or ids.new("fcinst"),
            created_at=now,
            livemode=config.livemode,
            connector=config.connector,
        )
        session.add(row)
    before = None if created else _comparable(runtime, row)
    if config.livemode != row.livemode:
        raise InstitutionConfigError(
            f"{row.id} is a {'live' if row.livemode else 'test'}-mode institution; "
            "its mode cannot change"
        )
    row.connector = config.connector
    row.connector_key = _identity(config)[:80]
    row.name = config.name
    row.countries = [config.country]
    row.bic = config.bic
    row.url = config.url
    row.settings = checked.settings
    row.features = checked.features
    row.auth_kind = "oauth"
    if before is None or before != _comparable(runtime, row, secrets=checked.secrets):
        row.secrets_sealed = seal_secrets(runtime.secret_box, checked.secrets)
        row.updated_at = now
        session.flush()
        return Outcome(row.id, row.name, "created" if created else "updated")
    return Outcome(row.id, row.name, "unchanged")


def _comparable(
    runtime: Runtime, row: Institution, *, secrets: Mapping[str, str] | None = None
) -> tuple[Any, ...]:
    return (
        row.connector,
        row.name,
        list(row.countries),
        row.bic,
        row.url,
        dict(row.settings),
        dict(row.features),
        dict(secrets) if secrets is not None else open_secrets(runtime.secret_box, row),
    )


def add_institution(session: Session, runtime: Runtime, config: InstitutionConfig) -> Outcome:
    """A new institution; one that is already configured (same id, or same mode,
    connector and bic) is refused: change it with ``update_institution``."""
    checked = _check(runtime, config, {})
    existing = _find(session, config)
    if existing is not None:
        raise InstitutionConfigError(
            f"{_identity(config)} is already configured as {existing.id}: update it instead"
        )
    return _write(session, runtime, checked, None)


@dataclass(frozen=True)
class InstitutionChanges:
    """A partial update: what is given changes, the rest stays. A setting set to None
    is removed."""

    name: str | None = None
    country: str | None = None
    bic: str | None = None
    url: str | None = None
    settings: Mapping[str, Any | None] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)


def update_institution(
    session: Session, runtime: Runtime, institution_id: str, changes: InstitutionChanges
) -> Outcome:
    _refuse_built_in(institution_id)
    row = get_configured(session, institution_id)
    kept = open_secrets(runtime.secret_box, row)
    settings = dict(row.settings)
    secret_names = set(connector_kind(row.connector).secret_names) if _known(row) else set()
    for key, value in changes.settings.items():
        if value is None:
            settings.pop(key, None)
            kept.pop(key, None)
        elif key in secret_names:
            kept[key] = value
        else:
            settings[key] = value
    config = InstitutionConfig(
        id=row.id,
        name=changes.name if changes.name is not None else row.name,
        connector=row.connector,
        country=changes.country if changes.country is not None else row.countries[0],
        bic=changes.bic if changes.bic is not None else row.bic,
        url=changes.url if changes.url is not None else row.url,
        livemode=row.livemode,
        settings={**settings, **{k: v for k, v in kept.items() if k in secret_names}},
        files=changes.files,
        features=dict(row.features),
    )
    checked = _check(runtime, config, {k: v for k, v in kept.items() if k in TLS_FILES})
    return _write(session, runtime, checked, row)


def _known(row: Institution) -> bool:
    try:
        connector_kind(row.connector)
    except UnknownConnector:
        return False
    return True


def set_disabled(session: Session, institution_id: str, *, disabled: bool) -> Outcome:
    """Disable (offered to nobody, no connector built) or enable an institution."""
    row = get_configured(session, institution_id)
    if (row.disabled_at is not None) == disabled:
        return Outcome(row.id, row.name, "unchanged")
    now = clock.now()
    row.disabled_at = now if disabled else None
    row.updated_at = now
    return Outcome(row.id, row.name, "disabled" if disabled else "enabled")


@dataclass(frozen=True)
class ConfiguredInstitution:
    """What may be shown of an institution: never a secret, only the secrets' names."""

    id: str
    name: str
    livemode: bool
    connector: str
    countries: list[str]
    bic: str | None
    health: str
    disabled: bool
    settings: dict[str, Any]
    secret_names: list[str]


def list_configured(
    session: Session, runtime: Runtime, *, livemode: bool | None = None
) -> list[ConfiguredInstitution]:
    query = select(Institution).order_by(Institution.livemode.desc(), Institution.name)
    if livemode is not None:
        query = query.where(Institution.livemode == livemode)
    return [
        ConfiguredInstitution(
            id=row.id,
            name=row.name,
            livemode=row.livemode,
            connector=row.connector,
            countries=list(row.countries),
            bic=row.bic,
            health=row.health,
            disabled=row.disabled_at is not None,
            settings=dict(row.settings),
            secret_names=sorted(open_secrets(runtime.secret_box, row)),
        )
        for row in session.scalars(query)
    ]


# --------------------------------------------------------------------------- catalog files


def read_catalog(path: Path) -> list[InstitutionConfig]:
    """The ``[[institution]]`` entries of a TOML catalog; file paths are relative to it."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InstitutionConfigError(f"cannot read {path} ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InstitutionConfigError(f"{path} is not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"institution"})
    if unknown:
        raise InstitutionConfigError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)}; "
            "write one [[institution]] table per bank"
        )
    entries = document.get("institution", [])
    if not isinstance(entries, list) or not entries:
        raise InstitutionConfigError(f"{path} has no [[institution]] entries")
    return [
        _entry_config(path.parent, number, entry) for number, entry in enumerate(entries, start=1)
    ]


def _label(number: int, entry: Mapping[str, Any]) -> str:
    name = entry.get("name")
    return f"institution #{number}" + (f" ({name})" if isinstance(name, str) and name else "")


def _entry_config(base: Path, number: int, entry: Mapping[str, Any]) -> InstitutionConfig:
    label = _label(number, entry)
    for required in ("name", "connector", "country"):
        if not isinstance(entry.get(required), str):
            raise InstitutionConfigError(f"{label}: {required} is required (a string)")
    for optional in ("id", "bic", "url"):
        if optional in entry and not isinstance(entry[optional], str):
            raise InstitutionConfigError(f"{label}: {optional} must be a string")
    livemode = entry.get("livemode", True)
    if not isinstance(livemode, bool):
        raise InstitutionConfigError(f"{label}: livemode must be true or false")
    features = entry.get("features")
    if features is not None and not (
        isinstance(features, dict) and all(isinstance(v, bool) for v in features.values())
    ):
        raise InstitutionConfigError(f"{label}: features must be a table of true/false")
    files: dict[str, Path] = {}
    for name in TLS_FILES:
        if name in entry:
            if not isinstance(entry[name], str):
                raise InstitutionConfigError(f"{label}: {name} must be the path of a PEM file")
            files[name] = base / Path(entry[name]).expanduser()
    return InstitutionConfig(
        id=entry.get("id"),
        name=entry["name"],
        connector=entry["connector"],
        country=entry["country"],
        bic=entry.get("bic"),
        url=entry.get("url"),
        livemode=livemode,
        settings={k: v for k, v in entry.items() if k not in ENTRY_KEYS and k not in TLS_FILES},
        files=files,
        features=features,
    )


def import_catalog(
    session: Session, runtime: Runtime, configs: Sequence[InstitutionConfig]
) -> list[Outcome]:
    """Create or update every entry, all or nothing: each is checked (and the file's
    entries must name distinct institutions) before any row changes. An entry is found
    by its ``id`` when it has one, else by (livemode, connector, bic)."""
    checked: list[tuple[_Checked, Institution | None]] = []
    seen: dict[str, int] = {}
    for number, config in enumerate(configs, start=1):
        label = f"institution #{number} ({config.name})"
        identity = _identity(config)
        if identity in seen:
            raise InstitutionConfigError(
                f"{label}: {identity} is also institution #{seen[identity]}; "
                "give each an id to tell them apart"
            )
        seen[identity] = number
        try:
            existing = _find(session, config)
            if existing is not None:
                _refuse_built_in(existing.id)
                if existing.livemode != config.livemode:
                    raise InstitutionConfigError(
                        f"{existing.id} is a {'live' if existing.livemode else 'test'}-mode "
                        "institution; its mode cannot change"
                    )
            # The file is the whole truth of its entries: a secret or TLS file it no longer
            # names is removed.
            checked.append((_check(runtime, config, {}), existing))
        except InstitutionConfigError as error:
            raise InstitutionConfigError(f"{label}: {error}") from None
    return [_write(session, runtime, entry, row) for entry, row in checked]
