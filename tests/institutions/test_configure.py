"""Institutions an operator configures: checked, secrets sealed, imported idempotently."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from relink.institutions.configure import (
    InstitutionChanges,
    InstitutionConfig,
    InstitutionConfigError,
    add_institution,
    import_catalog,
    list_configured,
    read_catalog,
    set_disabled,
    update_institution,
)
from relink.institutions.secrets import open_secrets
from relink.models import Institution
from relink.runtime import Runtime
from tests.institutions.catalogs import (
    CLIENT_SECRET,
    TlsFiles,
    oauth2_entry,
    remove_institutions,
    tls_files,
    unique_bic,
)

SETTINGS = {
    "base_url": "https://api.example-bank.test/api",
    "authorize_url": "https://api.example-bank.test/authorize",
    "token_url": "https://api.example-bank.test/token",
    "client_id": "relink",
    "client_secret": CLIENT_SECRET,
}


@pytest.fixture
def bics(runtime: Runtime) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    remove_institutions(runtime, made)


@pytest.fixture
def bic(bics: list[str]) -> str:
    bics.append(unique_bic())
    return bics[-1]


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return tls_files(tmp_path / "tls")


def config(bic: str, tls: TlsFiles | None = None, **fields: object) -> InstitutionConfig:
    values: dict[str, object] = {
        "name": "Example Bank",
        "connector": "oauth2",
        "country": "DE",
        "bic": bic,
        "settings": SETTINGS,
        **fields,
    }
    if tls is not None:
        values["files"] = {"client_certificate": tls.certificate, "client_key": tls.key}
    return InstitutionConfig(**values)  # type: ignore[arg-type]


def added(runtime: Runtime, configured: InstitutionConfig) -> Institution:
    with runtime.database.unit_of_work() as session:
        outcome = add_institution(session, runtime, configured)
    with runtime.database.read_only() as session:
        found = session.get(Institution, outcome.institution_id)
        assert found is not None
        return found


def count(runtime: Runtime, bic: str) -> int:
    with runtime.database.read_only() as session:
        return len(list(session.scalars(select(Institution).where(Institution.bic == bic))))


def test_secrets_and_tls_files_are_sealed_at_rest(
    runtime: Runtime, bic: str, tls: TlsFiles
) -> None:
    institution = added(runtime, config(bic, tls))
    with runtime.database.read_only() as session:
        raw_row = session.execute(
            text("SELECT settings, secrets_sealed FROM institutions WHERE id = :id"),
            {"id": institution.id},
        ).one()
    stored = str(raw_row.settings) + bytes(raw_row.secrets_sealed).decode("latin-1")
    assert CLIENT_SECRET not in stored
    assert "PRIVATE KEY" not in stored and "CERTIFICATE" not in stored
    assert open_secrets(runtime.secret_box, institution) == {
        "client_secret": CLIENT_SECRET,
        "client_certificate": tls.certificate_pem,
        "client_key": tls.key_pem,
    }
    assert "client_secret" not in institution.settings


def test_an_added_institution_is_live_unless_said_otherwise(runtime: Runtime, bic: str) -> None:
    institution = added(runtime, config(bic))
    assert institution.livemode is True
    assert institution.countries == ["DE"]
    assert institution.bic == bic


def test_an_unknown_connector_is_refused_naming_the_known_ones(runtime: Runtime, bic: str) -> None:
    with pytest.raises(InstitutionConfigError, match=r"unknown connector 'ebics'.*oauth2"):
        added(runtime, config(bic, connector="ebics"))
    assert count(runtime, bic) == 0


def test_settings_are_checked_by_the_connector(runtime: Runtime, bic: str) -> None:
    settings = {k: v for k, v in SETTINGS.items() if k != "token_url"}
    with pytest.raises(InstitutionConfigError, match="oauth2 connector: missing setting"):
        added(runtime, config(bic, settings=settings))
    assert count(runtime, bic) == 0


def test_a_file_that_is_not_pem_is_refused(runtime: Runtime, bic: str, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    files = {"client_certificate": tmp_path / "cert.pem", "client_key": tmp_path / "key.pem"}
    with pytest.raises(InstitutionConfigError, match=r"client_certificate: .* is not a PEM"):
        added(runtime, config(bic, files=files))
    assert count(runtime, bic) == 0


def test_a_key_that_is_not_the_certificates_is_refused(
    runtime: Runtime, bic: str, tmp_path: Path
) -> None:
    mine, other = tls_files(tmp_path / "mine"), tls_files(tmp_path / "other")
    files = {"client_certificate": mine.certificate, "client_key": other.key}
    with pytest.raises(InstitutionConfigError, match="client_key is not the key of"):
        added(runtime, config(bic, files=files))


def test_a_certificate_without_its_key_is_refused(
    runtime: Runtime, bic: str, tls: TlsFiles
) -> None:
    with pytest.raises(InstitutionConfigError, match="go together"):
        added(runtime, config(bic, files={"client_certificate": tls.certificate}))


def test_adding_the_same_bank_twice_is_refused(runtime: Runtime, bic: str) -> None:
    first = added(runtime, config(bic))
    with pytest.raises(InstitutionConfigError, match=f"already configured as {first.id}"):
        added(runtime, config(bic, name="Example Bank again"))


def test_an_update_changes_what_is_given_and_keeps_the_secrets(
    runtime: Runtime, bic: str, tls: TlsFiles
) -> None:
    institution = added(runtime, config(bic, tls))
    with runtime.database.unit_of_work() as session:
        outcome = update_institution(
            session,
            runtime,
            institution.id,
            InstitutionChanges(name="Example Bank AG", settings={"scope": "accounts"}),
        )
    assert outcome.result == "updated"
    with runtime.database.read_only() as session:
        row = session.get(Institution, institution.id)
        assert row is not None
        assert row.name == "Example Bank AG"
        assert row.settings["scope"] == "accounts"
        assert set(open_secrets(runtime.secret_box, row)) == {
            "client_secret",
            "client_certificate",
            "client_key",
        }


def test_a_built_in_sandbox_institution_cannot_be_changed(runtime: Runtime) -> None:
    with (
        runtime.database.unit_of_work() as session,
        pytest.raises(InstitutionConfigError, match="built-in sandbox institution"),
    ):
        update_institution(session, runtime, "fcinst_test_oauth", InstitutionChanges(name="X"))


def test_disable_and_enable_say_what_changed(runtime: Runtime, bic: str) -> None:
    institution = added(runtime, config(bic))
    results = []
    for disabled in (True, True, False):
        with runtime.database.unit_of_work() as session:
            results.append(set_disabled(session, institution.id, disabled=disabled).result)
    assert results == ["disabled", "unchanged", "enabled"]


def test_the_list_shows_secret_names_never_values(
    runtime: Runtime, bic: str, tls: TlsFiles
) -> None:
    institution = added(runtime, config(bic, tls))
    with runtime.database.read_only() as session:
        [listed] = [i for i in list_configured(session, runtime) if i.id == institution.id]
    assert listed.secret_names == ["client_certificate", "client_key", "client_secret"]
    assert CLIENT_SECRET not in repr(listed) and "PRIVATE KEY" not in repr(listed)


# --------------------------------------------------------------------------- import


def write_catalog(path: Path, *entries: str) -> Path:
    path.write_text("".join(entries))
    return path


def imported(runtime: Runtime, path: Path) -> list[str]:
    with runtime.database.unit_of_work() as session:
        return [o.result for o in import_catalog(session, runtime, read_catalog(path))]


def test_reimporting_changes_only_what_changed(
    runtime: Runtime, bics: list[str], tmp_path: Path
) -> None:
    bics.extend([unique_bic(), unique_bic()])
    catalog = tmp_path / "banks.toml"
    write_catalog(catalog, oauth2_entry("Alpha Bank", bics[0]), oauth2_entry("Beta Bank", bics[1]))
    assert imported(runtime, catalog) == ["created", "created"]
    with runtime.database.read_only() as session:
        before = {
            row.bic: row.updated_at
            for row in session.scalars(select(Institution).where(Institution.bic.in_(bics)))
        }
    assert imported(runtime, catalog) == ["unchanged", "unchanged"]
    write_catalog(
        catalog, oauth2_entry("Alpha Bank", bics[0]), oauth2_entry("Beta Bank eG", bics[1])
    )
    assert imported(runtime, catalog) == ["unchanged", "updated"]
    with runtime.database.read_only() as session:
        after = {
            row.bic: (row.updated_at, row.name)
            for row in session.scalars(select(Institution).where(Institution.bic.in_(bics)))
        }
    assert after[bics[0]] == (before[bics[0]], "Alpha Bank")
    assert after[bics[1]][1] == "Beta Bank eG"
    assert count(runtime, bics[0]) == count(runtime, bics[1]) == 1


def test_catalog_file_paths_are_read_relative_to_the_catalog(
    runtime: Runtime, bic: str, tmp_path: Path
) -> None:
    tls = tls_files(tmp_path / "certs")
    catalog = write_catalog(
        tmp_path / "banks.toml",
        oauth2_entry("Alpha Bank", bic),
        'client_certificate = "certs/client.pem"\nclient_key = "certs/client.key"\n',
    )
    assert imported(runtime, catalog) == ["created"]
    with runtime.database.read_only() as session:
        row = session.scalars(select(Institution).where(Institution.bic == bic)).one()
        assert open_secrets(runtime.secret_box, row)["client_key"] == tls.key_pem


def test_a_bad_entry_names_itself_and_changes_nothing(
    runtime: Runtime, bics: list[str], tmp_path: Path
) -> None:
    bics.extend([unique_bic(), unique_bic()])
    catalog = write_catalog(tmp_path / "banks.toml", oauth2_entry("Alpha Bank", bics[0]))
    assert imported(runtime, catalog) == ["created"]
    write_catalog(
        catalog,
        oauth2_entry("Alpha Bank renamed", bics[0]),
        oauth2_entry("Beta Bank", bics[1]).replace('country = "DE"', 'country = "Germany"'),
    )
    with pytest.raises(InstitutionConfigError, match=r"institution #2 \(Beta Bank\): country"):
        imported(runtime, catalog)
    with runtime.database.read_only() as session:
        names = [
            row.name
            for row in session.scalars(select(Institution).where(Institution.bic.in_(bics)))
        ]
    assert names == ["Alpha Bank"]


def test_two_entries_for_the_same_bank_are_refused(
    runtime: Runtime, bic: str, tmp_path: Path
) -> None:
    catalog = write_catalog(
        tmp_path / "banks.toml", oauth2_entry("Alpha Bank", bic), oauth2_entry("Alpha 2", bic)
    )
    with pytest.raises(InstitutionConfigError, match=r"institution #2 .* also institution #1"):
        imported(runtime, catalog)
    assert count(runtime, bic) == 0


def test_an_entry_is_live_unless_it_says_livemode_false(
    runtime: Runtime, bics: list[str], tmp_path: Path
) -> None:
    bics.extend([unique_bic(), unique_bic()])
    catalog = write_catalog(
        tmp_path / "banks.toml",
        oauth2_entry("Alpha Bank", bics[0]),
        oauth2_entry("Alpha Test", bics[1]) + "livemode = false\n",
    )
    imported(runtime, catalog)
    with runtime.database.read_only() as session:
        modes = {
            row.bic: row.livemode
            for row in session.scalars(select(Institution).where(Institution.bic.in_(bics)))
        }
    assert modes == {bics[0]: True, bics[1]: False}


def test_a_file_that_is_not_toml_is_a_clear_error(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "banks.toml", "[[institution]\nname = 1")
    with pytest.raises(InstitutionConfigError, match="is not valid TOML"):
        read_catalog(catalog)
