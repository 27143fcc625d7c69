"""``relink institutions``: configure the institutions Relink connects to.

Secrets never come from the command line itself (shell history, ``ps``): a connector's
secret is read from an environment variable (``--secret-from-env client_secret=VAR``),
TLS material from PEM files. Nothing here prints a secret; ``list`` shows their names.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

# Each command imports the configuration machinery when it runs (relink/cli.py: start-up).
if TYPE_CHECKING:
    from relink.institutions.configure import Outcome
    from relink.runtime import Runtime

institutions_app = typer.Typer(help="Configure institutions (banks).", no_args_is_help=True)

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

SettingOption = Annotated[
    list[str] | None,
    typer.Option(
        "--setting",
        help="A connector setting KEY=VALUE (VALUE as TOML when it parses: 5, true, "
        '["REDIRECT"]; else text). Repeat for more.',
    ),
]
SecretOption = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-from-env",
        help="A connector secret NAME=ENV_VAR, read from the environment variable.",
    ),
]
CertOption = Annotated[
    Path | None, typer.Option(help="PEM file of the TLS client certificate (its chain).")
]
KeyOption = Annotated[Path | None, typer.Option(help="PEM file of the TLS client private key.")]
CaOption = Annotated[
    Path | None, typer.Option(help="PEM file of the CA to trust for this bank only.")
]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code=1)


def _runtime() -> Runtime:
    from relink.config import load_settings
    from relink.runtime import Runtime

    return Runtime.from_settings(load_settings())


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _settings(
    settings: list[str] | None, secrets: list[str] | None, base_url: str | None
) -> dict[str, Any]:
    from relink.institutions.configure import InstitutionConfigError

    parsed: dict[str, Any] = {}
    if base_url is not None:
        parsed["base_url"] = base_url
    for item in settings or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InstitutionConfigError(f"--setting wants KEY=VALUE, not {item!r}")
        parsed[key] = _value(value)
    for item in secrets or ():
        key, sep, variable = item.partition("=")
        if not sep or not key or not variable:
            raise InstitutionConfigError(f"--secret-from-env wants NAME=ENV_VAR, not {item!r}")
        secret = os.environ.get(variable)
        if not secret:
            raise InstitutionConfigError(f"the environment variable {variable} is not set")
        parsed[key] = secret
    return parsed


def _files(cert: Path | None, key: Path | None, ca: Path | None) -> dict[str, Path]:
    from relink.institutions.secrets import CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY

    given = {CLIENT_CERTIFICATE: cert, CLIENT_KEY: key, CA_CERTIFICATE: ca}
    return {name: path for name, path in given.items() if path is not None}


def _print(outcome: Outcome) -> None:
    console.print(
        f"{outcome.result}: {outcome.institution_id} {outcome.name}", highlight=False, markup=False
    )


@institutions_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="The name holders see.")],
    connector: Annotated[str, typer.Option(help="The connector: nextgenpsd2, oauth2, …")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country code, e.g. DE.")],
    bic: Annotated[str | None, typer.Option(help="The bank's BIC.")] = None,
    base_url: Annotated[str | None, typer.Option(help="The bank API's base URL.")] = None,
    url: Annotated[str | None, typer.Option(help="The bank's website (shown in the API).")] = None,
    test: Annotated[bool, typer.Option("--test", help="A test-mode institution.")] = False,
    institution_id: Annotated[
        str | None, typer.Option("--id", help="Choose the id (fcinst_…).")
    ] = None,
    setting: SettingOption = None,
    secret_from_env: SecretOption = None,
    client_certificate: CertOption = None,
    client_key: KeyOption = None,
    ca_certificate: CaOption = None,
) -> None:
    """Add an institution (live mode unless --test)."""
    from relink.institutions.configure import (
        InstitutionConfig,
        InstitutionConfigError,
        add_institution,
    )

    runtime = _runtime()
    try:
        config = InstitutionConfig(
            id=institution_id,
            name=name,
            connector=connector,
            country=country,
            bic=bic,
            url=url,
            livemode=not test,
            settings=_settings(setting, secret_from_env, base_url),
            files=_files(client_certificate, client_key, ca_certificate),
        )
        with runtime.database.unit_of_work() as session:
            outcome = add_institution(session, runtime, config)
    except InstitutionConfigError as error:
        raise _fail(str(error)) from None
    _print(outcome)


@institutions_app.command("update")
def update(
    institution_id: Annotated[str, typer.Argument(help="The institution (fcinst_…).")],
    name: Annotated[str | None, typer.Option(help="The name holders see.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 code.")] = None,
    bic: Annotated[str | None, typer.Option(help="The bank's BIC.")] = None,
    base_url: Annotated[str | None, typer.Option(help="The bank API's base URL.")] = None,
    url: Annotated[str | None, typer.Option(help="The bank's website.")] = None,
    setting: SettingOption = None,
    secret_from_env: SecretOption = None,
    unset: Annotated[
        list[str] | None, typer.Option(help="Remove a setting or secret. Repeat for more.")
    ] = None,
    client_certificate: CertOption = None,
    client_key: KeyOption = None,
    ca_certificate: CaOption = None,
) -> None:
    """Change what is given; the rest stays."""
    from relink.institutions.configure import (
        InstitutionChanges,
        InstitutionConfigError,
        update_institution,
    )

    runtime = _runtime()
    try:
        settings: dict[str, Any | None] = dict(_settings(setting, secret_from_env, base_url))
        settings.update(dict.fromkeys(unset or ()))
        changes = InstitutionChanges(
            name=name,
            country=country,
            bic=bic,
            url=url,
            settings=settings,
            files=_files(client_certificate, client_key, ca_certificate),
        )
        with runtime.database.unit_of_work() as session:
            outcome = update_institution(session, runtime, institution_id, changes)
    except InstitutionConfigError as error:
        raise _fail(str(error)) from None
    _print(outcome)


def _set_disabled(institution_id: str, *, disabled: bool) -> None:
    from relink.institutions.configure import InstitutionConfigError, set_disabled

    runtime = _runtime()
    try:
        with runtime.database.unit_of_work() as session:
            outcome = set_disabled(session, institution_id, disabled=disabled)
    except InstitutionConfigError as error:
        raise _fail(str(error)) from None
    _print(outcome)


@institutions_app.command("disable")
def disable(
    institution_id: Annotated[str, typer.Argument(help="The institution (fcinst_…).")],
) -> None:
    """Offer the institution to nobody and stop calling its bank."""
    _set_disabled(institution_id, disabled=True)


@institutions_app.command("enable")
def enable(
    institution_id: Annotated[str, typer.Argument(help="The institution (fcinst_…).")],
) -> None:
    """Offer a disabled institution again."""
    _set_disabled(institution_id, disabled=False)


@institutions_app.command("list")
def list_(
    live: Annotated[bool, typer.Option("--live", help="Only live-mode institutions.")] = False,
    test: Annotated[bool, typer.Option("--test", help="Only test-mode institutions.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The institutions with their connector and settings (secrets by name only)."""
    if live and test:
        raise _fail("--live and --test exclude each other")
    from rich.table import Table

    from relink.institutions.configure import list_configured

    runtime = _runtime()
    with runtime.database.read_only() as session:
        rows = list_configured(session, runtime, livemode=True if live else False if test else None)
    if as_json:
        sys.stdout.write(
            json.dumps([row.__dict__ for row in rows], sort_keys=True, default=str) + "\n"
        )
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "mode", "name", "connector", "bic", "status", "health", "secrets"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.id,
            "live" if row.livemode else "test",
            row.name,
            row.connector,
            row.bic or "",
            "disabled" if row.disabled else "enabled",
            row.health,
            ", ".join(row.secret_names),
        )
    console.print(table, highlight=False, markup=False)


@institutions_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A TOML catalog: one [[institution]] per bank.")],
) -> None:
    """Create or update the catalog's institutions; all or nothing."""
    from relink.institutions.configure import InstitutionConfigError, import_catalog, read_catalog

    runtime = _runtime()
    try:
        configs = read_catalog(file)
        with runtime.database.unit_of_work() as session:
            outcomes = import_catalog(session, runtime, configs)
    except InstitutionConfigError as error:
        raise _fail(str(error)) from None
    for outcome in outcomes:
        _print(outcome)
    counts = {kind: sum(o.result == kind for o in outcomes) for kind in ("created", "updated")}
    unchanged = len(outcomes) - sum(counts.values())
    console.print(
        f"{counts['created']} created, {counts['updated']} updated, {unchanged} unchanged",
        highlight=False,
    )
