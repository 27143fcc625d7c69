"""NextGenPSD2 wire mapping: bank answers in the reference's shapes → Relink's data."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from relink.connectors.base import (
    AccessDenied,
    AccessExpired,
    AccountUnavailable,
    InstitutionDown,
    RateLimited,
    Unexpected,
)
from relink.connectors.nextgenpsd2 import wire

NOW = dt.datetime(2027, 1, 15, 12, 0, tzinfo=dt.UTC)


def test_a_link_asks_for_a_bank_offered_recurring_consent() -> None:
    body = wire.consent_request(valid_until=dt.date(2027, 4, 15), frequency_per_day=4)

    assert body == {
        "access": {"accounts": [], "balances": [], "transactions": []},
        "recurringIndicator": True,
        "validUntil": "2027-04-15",
        "frequencyPerDay": 4,
        "combinedServiceIndicator": False,
    }


def test_a_relink_asks_again_for_the_same_accounts_by_iban() -> None:
    body = wire.consent_request(
        valid_until=dt.date(2027, 4, 15),
        frequency_per_day=2,
        accounts=["DE89370400440532013000", "bban:0532013000"],
    )

    references = [{"iban": "DE89370400440532013000"}, {"bban": "0532013000"}]
    assert body["access"] == {
        "accounts": references,
        "balances": references,
        "transactions": references,
    }


def test_the_stable_identity_is_the_iban_never_the_resource_id() -> None:
    first = wire.parse_account(
        {"resourceId": "r-1", "iban": "DE89 3704 0044 0532 0130 00", "currency": "EUR"}
    )
    second = wire.parse_account(
        {"resourceId": "r-2", "iban": "DE89370400440532013000", "currency": "EUR"}
    )

    assert first is not None and second is not None
    assert first.account.stable_id == second.account.stable_id == "DE89370400440532013000"
    assert (first.resource_id, second.resource_id) == ("r-1", "r-2")


def test_without_an_iban_the_bban_then_the_masked_pan_is_the_identity() -> None:
    assert wire.stable_id({"bban": "0532013000"}) == "bban:0532013000"
    assert wire.stable_id({"maskedPan": "123456xxxxxx1234"}) == "maskedPan:123456xxxxxx1234"
    assert wire.account_reference("maskedPan:123456xxxxxx1234") == {"maskedPan": "123456xxxxxx1234"}


def test_an_account_without_any_identity_is_not_shared() -> None:
    body = {
        "accounts": [
            {"resourceId": "r-1", "currency": "EUR", "msisdn": "+4917012345678"},
            {"resourceId": "r-2", "iban": "DE02120300000000202051", "currency": "EUR"},
        ]
    }

    shared = wire.parse_accounts(body)

    assert [s.account.stable_id for s in shared] == ["DE02120300000000202051"]


def test_deleted_and_blocked_accounts_are_not_shared() -> None:
    body = {
        "accounts": [
            {"resourceId": "r-1", "iban": "DE02120300000000202051", "currency": "EUR"},
            {
                "resourceId": "r-2",
                "iban": "DE02500105170137075030",
                "status": "deleted",
                "currency": "EUR",
            },
            {
                "resourceId": "r-3",
                "iban": "DE12500105170648489890",
                "status": "blocked",
                "currency": "EUR",
            },
        ]
    }

    assert [s.resource_id for s in wire.parse_accounts(body)] == ["r-1"]


@pytest.mark.parametrize(
    ("cash_account_type", "category", "subcategory"),
    [
        ("CACC", "cash", "checking"),
        ("SVGS", "cash", "savings"),
        ("CARD", "credit", "credit_card"),
        ("LOAN", "credit", "other"),
        ("OTHR", "cash", "other"),
        (None, "cash", "other"),
    ],
)
def test_the_cash_account_type_decides_category_and_subcategory(
    cash_account_type: str | None, category: str, subcategory: str
) -> None:
    details = {"resourceId": "r", "iban": "DE02120300000000202051", "currency": "EUR"}
    if cash_account_type:
        details["cashAccountType"] = cash_account_type

    parsed = wire.parse_account(details)

    assert parsed is not None
    assert (parsed.account.category, parsed.account.subcategory) == (category, subcategory)


def test_an_iban_account_offers_no_us_payment_method_and_shows_the_iban_s_last4() -> None:
    parsed = wire.parse_account(
        {
            "resourceId": "r",
            "iban": "DE02120300000000202051",
            "currency": "EUR",
            "name": "Girokonto",
            "displayName": "Everyday",
        }
    )

    assert parsed is not None
    account = parsed.account
    assert (account.last4, account.display_name, account.currency) == ("2051", "Everyday", "eur")
    assert account.supports_ach is False and account.routing_number is None


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.30", "EUR", 1230), ("-0.05", "EUR", -5), ("1500", "JPY", 1500), ("1.234", "KWD", 1234)],
)
def test_amounts_become_minor_units_by_the_currency_s_precision(
    amount: str, currency: str, minor: int
) -> None:
    assert wire.minor_units({"currency": currency, "amount": amount}) == (minor, currency.lower())


def test_an_amount_more_precise_than_its_currency_is_refused() -> None:
    with pytest.raises(Unexpected):
        wire.minor_units({"currency": "JPY", "amount": "10.5"})


def test_current_is_the_booked_balance_and_available_the_available_one() -> None:
    body = {
        "balances": [
            {
                "balanceType": "closingBooked",
                "balanceAmount": {"currency": "EUR", "amount": "100.00"},
                "referenceDate": "2027-01-14",
            },
            {
                "balanceType": "interimAvailable",
                "balanceAmount": {"currency": "EUR", "amount": "80.50"},
                "lastChangeDateTime": "2027-01-15T09:30:00Z",
            },
        ]
    }

    balance = wire.parse_balance(body, kind="cash", now=NOW)

    assert balance.current == {"eur": 10000}
    assert balance.available == {"eur": 8050}
    assert balance.as_of == dt.datetime(2027, 1, 15, 9, 30, tzinfo=dt.UTC)


def test_interim_booked_wins_over_closing_booked() -> None:
    body = {
        "balances": [
            {
                "balanceType": "closingBooked",
                "balanceAmount": {"currency": "EUR", "amount": "100.00"},
            },
            {
                "balanceType": "interimBooked",
                "balanceAmount": {"currency": "EUR", "amount": "90.00"},
            },
        ]
    }

    balance = wire.parse_balance(body, kind="cash", now=NOW)

    assert balance.current == {"eur": 9000}
    assert balance.available is None
    assert balance.as_of == NOW


def test_booked_transactions_are_posted_and_pending_ones_pending() -> None:
    body = {
        "transactions": {
            "booked": [
                {
                    "transactionId": "t-1",
                    "transactionAmount": {"currency": "EUR", "amount": "-25.00"},
                    "bookingDate": "2027-01-10",
                    "valueDate": "2027-01-09",
                    "creditorName": "Bakery",
                    "remittanceInformationUnstructured": "Bread",
                },
            ],
            "pending": [
                {
                    "transactionAmount": {"currency": "EUR", "amount": "-4.20"},
                    "valueDate": "2027-01-14",
                    "creditorName": "Coffee",
                },
            ],
            "_links": {"account": {"href": "/v1/accounts/r"}},
        }
    }

    booked, pending = wire.parse_transactions(body)

    assert (booked.stable_id, booked.amount, booked.currency, booked.status) == (
        "t-1",
        -2500,
        "eur",
        "posted",
    )
    assert booked.description == "Bread"
    assert booked.transacted_at == dt.datetime(2027, 1, 9, tzinfo=dt.UTC)
    assert booked.posted_at == dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
    assert (pending.status, pending.posted_at, pending.description) == ("pending", None, "Coffee")
    assert pending.stable_id == wire.parse_transactions(body)[1].stable_id


def test_valid_until_is_inclusive_in_the_bank_s_local_date() -> None:
    ends = wire.expected_deactivation(dt.date(2027, 4, 15), ZoneInfo("Europe/Berlin"))

    assert ends == dt.datetime(2027, 4, 15, 22, 0, tzinfo=dt.UTC)


def test_owners_come_from_owner_names_or_the_owner_name() -> None:
    many = {"account": {"currency": "EUR", "ownerNames": [{"name": "A"}, {"name": "B"}]}}
    one = {"account": {"currency": "EUR", "ownerName": "C"}}

    assert [o.name for o in wire.parse_owners(many)] == ["A", "B"]
    assert [o.name for o in wire.parse_owners(one)] == ["C"]
    assert wire.parse_owners({"account": {"currency": "EUR"}}) == []


def _tpp(code: str) -> dict[str, object]:
    return {"tppMessages": [{"category": "ERROR", "code": code, "text": "Dear Max Mustermann"}]}


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, "CONSENT_EXPIRED", AccessExpired),
        (403, "RESOURCE_EXPIRED", AccessExpired),
        (401, "CONSENT_INVALID", AccessDenied),
        (403, "CONSENT_UNKNOWN", AccessDenied),
        (401, "CONSENT_UNKNOWN", AccessDenied),
        (401, "TOKEN_INVALID", AccessDenied),
        (403, "RESOURCE_UNKNOWN", AccountUnavailable),
        (404, "RESOURCE_UNKNOWN", AccountUnavailable),
        (429, "ACCESS_EXCEEDED", RateLimited),
        (401, "CERTIFICATE_INVALID", Unexpected),
        (400, "FORMAT_ERROR", Unexpected),
    ],
)
def test_bank_errors_map_to_what_to_do_by_their_code(
    status: int, code: str, error: type[Exception]
) -> None:
    mapped = wire.bank_error(status, _tpp(code), {}, what="GET /v1/accounts")

    assert type(mapped) is error
    assert mapped.bank_codes == (code,)


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_and_timeouts_say_the_bank_is_down(status: int) -> None:
    mapped = wire.bank_error(status, None, {"Retry-After": "120"}, what="GET /v1/accounts")

    assert isinstance(mapped, InstitutionDown)
    assert mapped.retry_after == 120


def test_the_bank_s_free_text_is_never_carried() -> None:
    mapped = wire.bank_error(401, _tpp("CONSENT_EXPIRED"), {}, what="GET /v1/accounts")

    assert "Mustermann" not in str(mapped)
    assert "CONSENT_EXPIRED" in str(mapped)


def test_problem_json_error_codes_are_read_too() -> None:
    body = {"type": "about:blank", "code": "CONSENT_INVALID", "additionalErrors": [{"code": "X"}]}

    mapped = wire.bank_error(401, body, {}, what="GET /v1/accounts")

    assert isinstance(mapped, AccessDenied)
    assert mapped.bank_codes == ("CONSENT_INVALID", "X")


@pytest.mark.parametrize(
    ("status", "error"),
    [("expired", AccessExpired), ("revokedByPsu", AccessDenied), ("terminatedByTpp", AccessDenied)],
)
def test_an_ended_consent_s_status_says_why(status: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.raise_for_consent_status(status)
