"""``relink dkim``: the DKIM keys outgoing email is signed with.

The private key never leaves the database (sealed) and is never printed; the commands
print the DNS TXT record that publishes the public key. This module sits beside
``relink/email/`` rather than in it, and imports the email machinery only when a
command runs, so that ``relink --help`` does not load it (relink/cli.py: start-up).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

dkim_app = typer.Typer(help="DKIM keys that sign outgoing email.", no_args_is_help=True)

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code=1)


def _print_record(domain: str, selector: str, name: str, value: str, zone_line: str) -> None:
    console.print(f"DKIM key for {domain} (selector {selector}).", highlight=False, markup=False)
    console.print("Publish this DNS TXT record:", highlight=False, markup=False)
    console.print(f"  name:  {name}", highlight=False, markup=False)
    console.print(f"  value: {value}", highlight=False, markup=False)
    console.print("As a zone-file line:", highlight=False, markup=False)
    console.print(f"  {zone_line}", highlight=False, markup=False)


@dkim_app.command("generate")
def generate(
    domain: Annotated[str, typer.Option(help="The sender domain (of RELINK_EMAIL_FROM).")],
    selector: Annotated[str, typer.Option(help="The selector, like relink1.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the domain's existing key.")
    ] = False,
) -> None:
    """Make a signing key for a domain (stored encrypted) and print its DNS TXT record."""
    from relink.config import load_settings
    from relink.email.dkim import DkimKeyExists, InvalidDkimInput, dns_record, generate_key, key_box
    from relink.email.messages import address_domain
    from relink.runtime import Runtime

    settings = load_settings()
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.database.unit_of_work() as db:
            key = generate_key(
                db, key_box(settings.resolved_secret_key), domain, selector, replace=replace
            )
            record = dns_record(key)
            shown = (key.domain, key.selector)
    except (InvalidDkimInput, DkimKeyExists) as error:
        raise _fail(str(error)) from None
    finally:
        runtime.database.engine.dispose()
    _print_record(*shown, record.name, record.value, record.zone_line())
    sender_domain = address_domain(settings.email_from)
    if sender_domain != shown[0]:
        console.print(
            f"Note: RELINK_EMAIL_FROM is on {sender_domain}; only email from {shown[0]} "
            "is signed with this key.",
            highlight=False,
            markup=False,
        )


@dkim_app.command("show")
def show(
    domain: Annotated[
        str | None, typer.Option(help="One domain (default: every domain with a key).")
    ] = None,
) -> None:
    """Print the DNS TXT record of each key (or of one domain's)."""
    from relink.config import load_settings
    from relink.email.dkim import InvalidDkimInput, all_keys, dns_record, key_of, normalized_domain
    from relink.runtime import Runtime

    runtime = Runtime.from_settings(load_settings())
    try:
        with runtime.database.read_only() as db:
            if domain is not None:
                try:
                    key = key_of(db, normalized_domain(domain))
                except InvalidDkimInput as error:
                    raise _fail(str(error)) from None
                if key is None:
                    raise _fail(f"no DKIM key for {normalized_domain(domain)}")
                keys = [key]
            else:
                keys = all_keys(db)
            shown = [(k.domain, k.selector, dns_record(k)) for k in keys]
    finally:
        runtime.database.engine.dispose()
    if not shown:
        console.print("No DKIM keys: email goes out unsigned.", highlight=False, markup=False)
    for key_domain, key_selector, record in shown:
        _print_record(key_domain, key_selector, record.name, record.value, record.zone_line())


bounces_app = typer.Typer(help="Receive or read bounces and complaints.", no_args_is_help=True)


@bounces_app.command("serve")
def bounces_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 2525,
    lmtp: Annotated[bool, typer.Option("--lmtp", help="Speak LMTP instead of SMTP.")] = False,
) -> None:
    """Receive bounces over SMTP (or LMTP) until stopped (SIGTERM/SIGINT)."""
    import os
    import signal
    import threading

    from relink.config import load_settings
    from relink.email.receiver import bounce_receiver
    from relink.kit.logs import configure_logging
    from relink.runtime import Runtime

    if not 1 <= port <= 65535:
        raise _fail(f"--port must be between 1 and 65535 (got {port})")
    settings = load_settings()
    configure_logging(json_lines=settings.env == "production")
    runtime = Runtime.from_settings(settings)
    receiver = bounce_receiver(runtime, host, port, lmtp=lmtp)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        receiver.start()
    except OSError as error:  # the port is taken, or not ours to open
        runtime.database.engine.dispose()
        reason = os.strerror(error.errno).lower() if error.errno else str(error)
        raise _fail(f"cannot listen on {host}:{port}: {reason}") from None
    console.print(
        f"Receiving bounces over {'LMTP' if lmtp else 'SMTP'} on {host}:{port}",
        highlight=False,
        markup=False,
    )
    try:
        stopping.wait()
    finally:
        receiver.stop()
        runtime.database.engine.dispose()


@bounces_app.command("poll")
def bounces_poll(
    once: Annotated[bool, typer.Option("--once", help="Read the mailbox once and exit.")] = False,
) -> None:
    """Read bounces from the IMAP mailbox of RELINK_BOUNCE_IMAP_*, every
    RELINK_BOUNCE_IMAP_INTERVAL_SECONDS until stopped (SIGTERM/SIGINT), or --once."""
    import signal

    from relink.config import load_settings
    from relink.email.poller import BouncePoller, ImapError, poll_once
    from relink.kit.logs import configure_logging
    from relink.runtime import Runtime

    settings = load_settings()
    if not settings.bounce_imap_host:
        raise _fail("RELINK_BOUNCE_IMAP_HOST is not set: there is no mailbox to read")
    configure_logging(json_lines=settings.env == "production")
    runtime = Runtime.from_settings(settings)
    try:
        if once:
            try:
                result = poll_once(runtime)
            except ImapError as error:
                raise _fail(str(error)) from None
            console.print(result.summary(), highlight=False, markup=False)
            if result.failed:
                raise typer.Exit(code=1)
            return
        poller = BouncePoller(runtime)
        signal.signal(signal.SIGTERM, lambda *_: poller.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: poller.stopping.set())
        console.print(
            f"Reading bounces from {settings.bounce_imap_mailbox} on "
            f"{settings.bounce_imap_host}:{settings.bounce_imap_port} every "
            f"{settings.bounce_imap_interval_seconds:g} s",
            highlight=False,
            markup=False,
        )
        poller.run_forever()
    finally:
        runtime.database.engine.dispose()
