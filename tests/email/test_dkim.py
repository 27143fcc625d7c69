"""DKIM: ``relink dkim generate`` makes a sealed key and prints its record; the SMTP
backend signs with it; a receiver verifies the signature with dkimpy."""

from __future__ import annotations

import re
from collections.abc import Iterator

import dkim
import pytest
import stripe
import structlog
from sqlalchemy import delete

from relink.config import Settings
from relink.email.dkim import DkimKeyExists, InvalidDkimInput, generate_key, key_box, log_signing
from relink.models import DkimKey
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime
from tests.commands import Relink, relink_in
from tests.email.factories import eligible_account, request_relink_email
from tests.email.smtp_server import SmtpServer
from tests.factories import drain_outbox, sending_to

DOMAIN = "mail.relink.test"
SELECTOR = "relink1"
SENDER = f"Relink <no-reply@{DOMAIN}>"


@pytest.fixture
def cli(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, runtime: Runtime
) -> Iterator[Relink]:
    """The console script on the test database (and its secret key); the keys it makes
    are removed after the test."""
    relink = relink_in(tmp_path_factory.mktemp("cli-dkim"), tmp_path_factory)
    assert settings.secret_key is not None
    relink.env.update(
        RELINK_DATABASE_URL=settings.database_url,
        RELINK_SECRET_KEY=settings.secret_key,
        RELINK_EMAIL_FROM=SENDER,
    )
    yield relink
    with runtime.database.unit_of_work() as db:
        db.execute(delete(DkimKey))


def printed_record(output: str) -> tuple[str, str]:
    name = re.search(r"name:  (\S+)", output)
    value = re.search(r"value: (.+)", output)
    assert name and value, output
    return name.group(1), value.group(1).strip()


def resolver(records: dict[str, str]) -> object:
    """A dnsfunc for dkimpy that answers TXT queries from ``records`` only."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode().rstrip("."))
        return value.encode() if value is not None else None

    return dnsfunc


def test_an_email_signed_with_a_generated_key_verifies_against_the_printed_record(
    cli: Relink,
    settings: Settings,
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
) -> None:
    generated = cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", SELECTOR)
    assert generated.returncode == 0, generated.stderr
    assert "PRIVATE KEY" not in generated.stdout
    name, value = printed_record(generated.stdout)
    assert name == f"{SELECTOR}._domainkey.{DOMAIN}"
    assert value.startswith("v=DKIM1; k=rsa; p=")

    request_relink_email(client, eligible_account(client, platform))
    with sending_to(smtp, settings, email_from=SENDER) as sender:
        drain_outbox(sender)

    [received] = smtp.handler.to(platform.owner.email)
    signature = received.message["DKIM-Signature"]
    assert f"d={DOMAIN}" in signature and f"s={SELECTOR}" in signature
    assert "c=relaxed/relaxed" in signature
    signed = re.search(r"h=([^;]+);", " ".join(signature.split()))
    assert signed is not None
    assert {"from", "to", "subject", "date", "message-id"} <= {
        h.strip() for h in signed.group(1).split(":")
    }
    dns = resolver({name: value})
    assert dkim.verify(received.raw, dnsfunc=dns)
    head, _, body = received.raw.partition(b"\r\n\r\n")
    tampered = head + b"\r\n\r\n" + body.replace(b"--==", b"\r\nPS: send money\r\n--==", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_a_header_added_after_signing_breaks_the_signature(
    cli: Relink,
    settings: Settings,
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
) -> None:
    generated = cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", SELECTOR)
    name, value = printed_record(generated.stdout)
    request_relink_email(client, eligible_account(client, platform))
    with sending_to(smtp, settings, email_from=SENDER) as sender:
        drain_outbox(sender)

    [received] = smtp.handler.to(platform.owner.email)
    # A second Subject above the signed one: oversigning makes it count.
    forged = b"Subject: Your account is closed\r\n" + received.raw
    assert not dkim.verify(forged, dnsfunc=resolver({name: value}))


def test_email_from_a_domain_without_a_key_goes_out_unsigned(
    cli: Relink,
    settings: Settings,
    client: stripe.StripeClient,
    platform: NewPlatform,
    smtp: SmtpServer,
) -> None:
    generated = cli.run("dkim", "generate", "--domain", "other.relink.test", "--selector", "s1")
    assert generated.returncode == 0, generated.stderr
    assert "only email from other.relink.test is signed" in generated.stdout
    request_relink_email(client, eligible_account(client, platform))
    with sending_to(smtp, settings, email_from=SENDER) as sender:
        drain_outbox(sender)

    [received] = smtp.handler.to(platform.owner.email)
    assert received.message["DKIM-Signature"] is None


def test_the_private_key_is_stored_sealed_under_the_secret_key(
    cli: Relink, runtime: Runtime
) -> None:
    assert cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", SELECTOR).returncode == 0
    with runtime.database.read_only() as db:
        key = db.get(DkimKey, DOMAIN)
        assert key is not None
        sealed = key.private_key_sealed
    assert b"PRIVATE KEY" not in sealed
    assert runtime.settings.secret_key is not None
    assert (
        key_box(runtime.settings.secret_key)
        .open_bytes(sealed)
        .startswith(b"-----BEGIN PRIVATE KEY-----")
    )
    with pytest.raises(ValueError, match="cannot be decrypted"):
        key_box("another-secret-key").open_bytes(sealed)


def test_a_second_key_for_a_domain_needs_replace_and_then_changes_the_selector(
    cli: Relink, runtime: Runtime
) -> None:
    assert cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", "old").returncode == 0
    again = cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", "new")
    assert again.returncode == 1
    assert "has a DKIM key already (selector old)" in again.stderr
    with runtime.database.read_only() as db:
        kept = db.get(DkimKey, DOMAIN)
        assert kept is not None and kept.selector == "old"
    replaced = cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", "new", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    shown = cli.run("dkim", "show", "--domain", DOMAIN)
    assert printed_record(shown.stdout)[0] == f"new._domainkey.{DOMAIN}"


@pytest.mark.parametrize(
    ("domain", "selector", "error"),
    [
        ("localhost", "s1", "is not a domain name"),
        ("exa mple.com", "s1", "is not a domain name"),
        ("example.com", "bad_selector", "is not a DKIM selector"),
        ("example.com", "-s1", "is not a DKIM selector"),
    ],
)
def test_a_bad_domain_or_selector_is_refused_and_stores_nothing(
    runtime: Runtime, domain: str, selector: str, error: str
) -> None:
    assert runtime.settings.secret_key is not None
    box = key_box(runtime.settings.secret_key)
    with pytest.raises(InvalidDkimInput, match=error), runtime.database.unit_of_work() as db:
        generate_key(db, box, domain, selector)
    with runtime.database.read_only() as db:
        assert db.get(DkimKey, domain.lower()) is None


def test_generate_refuses_an_existing_domain_in_the_service_too(
    runtime: Runtime, cli: Relink
) -> None:
    assert runtime.settings.secret_key is not None
    box = key_box(runtime.settings.secret_key)
    with runtime.database.unit_of_work() as db:
        generate_key(db, box, DOMAIN.upper() + ".", SELECTOR)
    with pytest.raises(DkimKeyExists), runtime.database.unit_of_work() as db:
        generate_key(db, box, DOMAIN, "other")


def test_the_worker_says_at_start_up_whether_emails_are_signed(
    cli: Relink, runtime: Runtime
) -> None:
    with structlog.testing.capture_logs() as logs:
        log_signing(runtime.database, SENDER)
    assert logs[0]["event"] == "email.unsigned"
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["domain"] == DOMAIN
    assert cli.run("dkim", "generate", "--domain", DOMAIN, "--selector", SELECTOR).returncode == 0
    with structlog.testing.capture_logs() as logs:
        log_signing(runtime.database, SENDER)
    assert (logs[0]["event"], logs[0]["selector"]) == ("email.dkim_signing", SELECTOR)


def test_show_without_keys_says_email_goes_unsigned(cli: Relink) -> None:
    shown = cli.run("dkim", "show")
    assert shown.returncode == 0
    assert "No DKIM keys: email goes out unsigned." in shown.stdout
