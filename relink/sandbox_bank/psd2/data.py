"""Deterministic accounts, balances and transactions of a PSD2 holder.

A pure function of (ASPSP, username): the same holder always has the same IBANs. The
`resourceId` of an account is derived from the consent too, so it differs per consent
(as a real ASPSP's may); the IBAN is the stable identity.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from relink.sandbox_bank.data import normalize_username
from relink.sandbox_bank.psd2.aspsps import Psd2Aspsp

TRANSACTION_WINDOW_DAYS = 90
_COUNTERPARTIES = (
    "Stadtwerke",
    "Bäckerei Schmidt",
    "Gehalt Muster GmbH",
    "Buchhandlung am Markt",
    "Deutsche Bahn",
    "Supermarkt Nord",
    "Miete Hausverwaltung",
)
_OWNERS = ("Erika Mustermann", "Max Mustermann", "Anna Schmidt", "Jonas Weber", "Lena Fischer")


@dataclass(frozen=True, slots=True)
class Psd2AccountSlot:
    slot: str
    name: str
    product: str
    cash_account_type: str


SLOTS: tuple[Psd2AccountSlot, ...] = (
    Psd2AccountSlot("giro", "Girokonto", "Girokonto Plus", "CACC"),
    Psd2AccountSlot("savings", "Tagesgeld", "Tagesgeldkonto", "SVGS"),
)


@dataclass(frozen=True, slots=True)
class Psd2Account:
    iban: str
    bban: str
    slot: Psd2AccountSlot
    owner_name: str
    booked_balance_cents: int
    currency: str = "EUR"


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def iban_for(country: str, bban: str) -> str:
    """An IBAN with correct check digits (ISO 13616, mod 97)."""
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def accounts_for(aspsp: Psd2Aspsp, username: str) -> list[Psd2Account]:
    """Every account this holder has at this ASPSP, in display order."""
    user = normalize_username(username)
    owner = random.Random(_digest(aspsp.key, user, "owner")).choice(_OWNERS)
    accounts = []
    for slot in SLOTS:
        rng = random.Random(_digest(aspsp.key, user, slot.slot))
        bban = aspsp.bank_code + str(rng.randrange(10**9, 10**10))
        balance = rng.randrange(100_00, 20_000_00)
        accounts.append(Psd2Account(iban_for("DE", bban), bban, slot, owner, balance))
    return accounts


def resource_id(consent_id: str, iban: str) -> str:
    return "acc-" + _digest(consent_id, iban)[:16]


def amount(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@dataclass(frozen=True, slots=True)
class Psd2Transaction:
    id: str
    cents: int
    counterparty: str
    booking_date: date | None  # None: pending
    value_date: date


def transactions_for(account: Psd2Account, today: date) -> list[Psd2Transaction]:
    """The last 90 days, newest first; each day's are fixed by the date; today's pending."""
    result = []
    for offset in range(TRANSACTION_WINDOW_DAYS + 1):
        day = today - timedelta(days=offset)
        rng = random.Random(_digest(account.iban, day.isoformat()))
        for index in range(rng.choice((0, 0, 1, 1, 2))):
            party = rng.choice(_COUNTERPARTIES)
            cents = rng.randrange(1_00, 250_00)
            cents = cents * 10 if party.startswith("Gehalt") else -cents
            result.append(
                Psd2Transaction(
                    id="tx-" + _digest(account.iban, day.isoformat(), str(index))[:16],
                    cents=cents,
                    counterparty=party,
                    booking_date=None if offset == 0 else day,
                    value_date=day,
                )
            )
    return result


def today_of(now: datetime) -> date:
    """The ASPSP's local date (the sandbox's ASPSPs keep UTC)."""
    return now.astimezone(UTC).date()
