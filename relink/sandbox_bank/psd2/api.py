"""The XS2A AIS endpoints of each PSD2 ASPSP, under `/{aspsp.path}/v1`.

Every answer echoes `X-Request-ID`; errors are `tppMessages` (or no body for 503).
Routes decode the headers, run one service call in the unit of work, and render.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from relink.sandbox_bank.models import Psd2Authorisation, Psd2Consent, Psd2Token
from relink.sandbox_bank.psd2 import consents as service
from relink.sandbox_bank.psd2.aspsps import PSD2_ASPSPS, Approach, Psd2Aspsp
from relink.sandbox_bank.psd2.clock import psd2_now
from relink.sandbox_bank.psd2.data import (
    Psd2Account,
    Psd2Transaction,
    amount,
    today_of,
    transactions_for,
)
from relink.sandbox_bank.psd2.errors import Psd2Error, format_error
from relink.sandbox_bank.web import bank_of

MAINTENANCE_RETRY_AFTER = 3600


@dataclass(frozen=True, slots=True)
class Call:
    """What every operation needs from the request."""

    request: Request
    aspsp: Psd2Aspsp
    session: Session
    now: datetime
    psu_present: bool

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def href(self, rest: str) -> str:
        return f"{str(self.request.base_url).rstrip('/')}/{self.aspsp.path}/v1{rest}"


Operation = Callable[[Call], Response]


def _request_id(request: Request) -> str:
    raw = request.headers.get("X-Request-ID", "")
    try:
        uuid.UUID(raw)
    except ValueError:
        return ""
    return raw


def _render_error(error: Psd2Error, request_id: str) -> Response:
    headers = {**error.headers, "X-Request-ID": request_id or str(uuid.uuid4())}
    body = error.body()
    if body is None:
        return Response(status_code=error.status, headers=headers)
    return JSONResponse(body, status_code=error.status, headers=headers)


def _psu_present(request: Request, *, required: bool) -> bool:
    raw = request.headers.get("PSU-IP-Address")
    if raw is None:
        if required:
            raise format_error("PSU-IP-Address is required.", path="PSU-IP-Address")
        return False
    try:
        ipaddress.ip_address(raw.strip())
    except ValueError:
        raise format_error("PSU-IP-Address is not an IP address.", path="PSU-IP-Address") from None
    return True


def _oauth_token(call: Call, *, kind: str = "access") -> Psd2Token:
    """The OAuth ASPSP wants the pre-step's bearer token on consent creation and reads."""
    authorization = call.header("Authorization") or ""
    if not authorization.lower().startswith("bearer "):
        raise Psd2Error(401, "TOKEN_INVALID", "An OAuth2 bearer token is required.")
    token = service.find_token(call.session, authorization[7:].strip(), kind)
    if token is None or token.aspsp != call.aspsp.key:
        raise Psd2Error(401, "TOKEN_UNKNOWN", "The bearer token is unknown.")
    if token.expires_at <= call.now:
        raise Psd2Error(401, "TOKEN_EXPIRED", "The bearer token has expired.")
    return token


def _run(
    request: Request, aspsp: Psd2Aspsp, operation: Operation, *, psu_required: bool = False
) -> Response:
    request_id = _request_id(request)
    bank = bank_of(request)
    try:
        if aspsp.down:
            raise Psd2Error(
                503,
                "SERVICE_UNAVAILABLE",
                "Down for maintenance.",
                headers={"Retry-After": str(MAINTENANCE_RETRY_AFTER)},
            )
        if not request_id:
            raise format_error("X-Request-ID must be a UUID.", path="X-Request-ID")
        psu_present = _psu_present(request, required=psu_required)
        with bank.store.transaction() as session:
            call = Call(request, aspsp, session, psd2_now(request, session), psu_present)
            response = operation(call)
    except Psd2Error as error:
        return _render_error(error, request_id)
    response.headers["X-Request-ID"] = request_id
    return response


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


# ---------------------------------------------------------------------- consents


def _consent_links(call: Call, consent: Psd2Consent, auth: Psd2Authorisation) -> dict[str, Any]:
    base = f"/consents/{consent.id}"
    return {
        "self": {"href": call.href(base)},
        "status": {"href": call.href(f"{base}/status")},
        "scaStatus": {"href": call.href(f"{base}/authorisations/{auth.id}")},
    }


def _create_consent(body: Any) -> Operation:
    def operation(call: Call) -> Response:
        token = _oauth_token(call) if call.aspsp.approach is Approach.oauth else None
        created = service.create_consent(
            call.session,
            call.aspsp,
            body,
            now=call.now,
            psu_id=call.header("PSU-ID"),
            redirect_uri=call.header("TPP-Redirect-URI"),
            nok_redirect_uri=call.header("TPP-Nok-Redirect-URI"),
            token=token,
        )
        consent = created.consent
        links = _consent_links(call, consent, created.authorisation)
        answer: dict[str, Any] = {"consentStatus": consent.status, "consentId": consent.id}
        if created.page_token is not None:
            links["scaRedirect"] = {"href": _sca_page(call, created.page_token)}
        if call.aspsp.approach is Approach.decoupled:
            answer["psuMessage"] = (
                "Approve the request in your banking app (the bank's security center)."
            )
        answer["_links"] = links
        return _json(
            answer,
            201,
            **{
                "Location": call.href(f"/consents/{consent.id}"),
                "ASPSP-SCA-Approach": call.aspsp.sca_approach_header,
            },
        )

    return operation


def _sca_page(call: Call, token: str) -> str:
    pages_url = bank_of(call.request).pages_url
    if pages_url is not None:
        return f"{pages_url}/psd2/sca/{token}"
    return str(call.request.url_for("sandbox_bank_psd2_sca", token=token))


def _consent_operation(consent_id: str, then: Callable[[Call, Psd2Consent], Response]) -> Operation:
    def operation(call: Call) -> Response:
        consent = service.find_consent(call.session, call.aspsp, consent_id, call.now)
        return then(call, consent)

    return operation


def _consent_information(call: Call, consent: Psd2Consent) -> Response:
    body: dict[str, Any] = {
        "access": consent.access,
        "recurringIndicator": consent.recurring,
        "validUntil": consent.valid_until,
        "frequencyPerDay": consent.frequency_per_day,
        "lastActionDate": consent.last_action_date,
        "consentStatus": consent.status,
    }
    if consent.status == "valid":
        body["_links"] = {"account": {"href": call.href("/accounts")}}
    return _json(body)


def _consent_status(call: Call, consent: Psd2Consent) -> Response:
    return _json({"consentStatus": consent.status})


def _delete_consent(call: Call, consent: Psd2Consent) -> Response:
    service.terminate(consent, call.now)
    return Response(status_code=204)


def _authorisation_ids(call: Call, consent: Psd2Consent) -> Response:
    ids = [a.id for a in service.authorisations_of(call.session, consent.id)]
    return _json({"authorisationIds": ids})


def _start_authorisation(call: Call, consent: Psd2Consent) -> Response:
    authorisation, page_token = service.start_authorisation(
        call.session, call.aspsp, consent, call.now
    )
    links: dict[str, Any] = {
        "scaStatus": {
            "href": call.href(f"/consents/{consent.id}/authorisations/{authorisation.id}")
        }
    }
    if page_token is not None:
        links["scaRedirect"] = {"href": _sca_page(call, page_token)}
    body: dict[str, Any] = {
        "scaStatus": authorisation.sca_status,
        "authorisationId": authorisation.id,
        "_links": links,
    }
    if call.aspsp.approach is Approach.decoupled:
        body["psuMessage"] = "Approve the request in your banking app."
    return _json(body, 201, **{"ASPSP-SCA-Approach": call.aspsp.sca_approach_header})


def _sca_status(authorisation_id: str) -> Callable[[Call, Psd2Consent], Response]:
    def then(call: Call, consent: Psd2Consent) -> Response:
        authorisation = service.find_authorisation(call.session, consent, authorisation_id)
        return _json({"scaStatus": authorisation.sca_status})

    return then


def _embedded_refused(call: Call, consent: Psd2Consent) -> Response:
    raise Psd2Error(405, "SERVICE_INVALID", "The embedded SCA approach is not offered.")


# ---------------------------------------------------------------------- accounts


def _access(call: Call) -> Psd2Consent:
    consent_id = call.header("Consent-ID")
    if not consent_id:
        raise format_error("Consent-ID is required.", path="Consent-ID")
    consent = service.find_consent(call.session, call.aspsp, consent_id, call.now)
    if call.aspsp.approach is Approach.oauth:
        token = _oauth_token(call)
        if token.username != consent.username:
            raise Psd2Error(401, "TOKEN_INVALID", "The token is not the consent's PSU's.")
    service.consent_for_access(consent)
    return consent


def _counted(call: Call, consent: Psd2Consent, what: str) -> None:
    try:
        service.count_unattended_read(consent, what, call.now, psu_present=call.psu_present)
    except Psd2Error as error:
        error.commit = True  # keeps lastActionDate
        raise


def _account_details(
    call: Call, rid: str, account: Psd2Account, consent: Psd2Consent
) -> dict[str, Any]:
    links: dict[str, Any] = {}
    if account.iban in consent.balance_ibans:
        links["balances"] = {"href": call.href(f"/accounts/{rid}/balances")}
    if account.iban in consent.transaction_ibans:
        links["transactions"] = {"href": call.href(f"/accounts/{rid}/transactions")}
    details: dict[str, Any] = {
        "resourceId": rid,
        "iban": account.iban,
        "bban": account.bban,
        "currency": account.currency,
        "ownerName": account.owner_name,
        "name": account.slot.name,
        "displayName": account.slot.name,
        "product": account.slot.product,
        "cashAccountType": account.slot.cash_account_type,
        "status": "enabled",
        "bic": call.aspsp.bic,
        "usage": "PRIV",
    }
    if links:
        details["_links"] = links
    return details


def _balances(account: Psd2Account, now: datetime) -> list[dict[str, Any]]:
    today = today_of(now)
    pending = sum(t.cents for t in transactions_for(account, today) if t.booking_date is None)
    return [
        {
            "balanceType": "closingBooked",
            "balanceAmount": {"currency": account.currency, "amount": amount(account.booked_balance_cents)},
            "referenceDate": (today - timedelta(days=1)).isoformat(),
        },
        {
            "balanceType": "interimAvailable",
            "balanceAmount": {
                "currency": account.currency,
                "amount": amount(account.booked_balance_cents + pending),
            },
            "lastChangeDateTime": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        },
    ]  # fmt: skip


def _list_accounts(call: Call) -> Response:
    consent = _access(call)
    _counted(call, consent, "accounts")
    with_balance = call.request.query_params.get("withBalance") == "true"
    accounts = []
    for rid, account in service.shared_accounts(call.aspsp, consent):
        details = _account_details(call, rid, account, consent)
        if with_balance and account.iban in consent.balance_ibans:
            details["balances"] = _balances(account, call.now)
        accounts.append(details)
    return _json({"accounts": accounts})


def _account_operation(
    account_id: str, what: str, then: Callable[[Call, Psd2Consent, str, Psd2Account], Response]
) -> Operation:
    def operation(call: Call) -> Response:
        consent = _access(call)
        account = service.shared_account(call.aspsp, consent, account_id)
        if what in ("balances", "transactions"):
            service.require_right(consent, account, what)
        _counted(call, consent, f"{account_id}|{what}")
        return then(call, consent, account_id, account)

    return operation


def _read_account(call: Call, consent: Psd2Consent, rid: str, account: Psd2Account) -> Response:
    return _json({"account": _account_details(call, rid, account, consent)})


def _read_balances(call: Call, consent: Psd2Consent, rid: str, account: Psd2Account) -> Response:
    return _json(
        {
            "account": {"iban": account.iban, "currency": account.currency},
            "balances": _balances(account, call.now),
        }
    )


def _transaction(account: Psd2Account, t: Psd2Transaction) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transactionId": t.id,
        "entryReference": t.id,
        "valueDate": t.value_date.isoformat(),
        "transactionAmount": {"currency": account.currency, "amount": amount(t.cents)},
        "remittanceInformationUnstructured": t.counterparty,
    }
    if t.booking_date is not None:
        body["bookingDate"] = t.booking_date.isoformat()
    if t.cents < 0:
        body["creditorName"] = t.counterparty
    else:
        body["debtorName"] = t.counterparty
    return body


def _query_date(call: Call, name: str) -> date | None:
    raw = call.request.query_params.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise format_error(f"{name} must be an ISO date (YYYY-MM-DD).", path=name) from None


def _read_transactions(
    call: Call, consent: Psd2Consent, rid: str, account: Psd2Account
) -> Response:
    status = call.request.query_params.get("bookingStatus")
    if status is None:
        raise format_error("bookingStatus is required.", path="bookingStatus")
    if status not in ("booked", "pending", "both"):
        raise Psd2Error(
            400,
            "PARAMETER_NOT_SUPPORTED",
            "bookingStatus must be booked, pending or both here.",
            path="bookingStatus",
        )
    date_from, date_to = _query_date(call, "dateFrom"), _query_date(call, "dateTo")
    if date_from is None:
        raise format_error("dateFrom is required.", path="dateFrom")
    today = today_of(call.now)
    date_to = date_to or today
    if date_from > date_to:
        raise Psd2Error(400, "PERIOD_INVALID", "dateFrom lies after dateTo.", path="dateFrom")
    booked: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for t in transactions_for(account, today):
        if not date_from <= t.value_date <= date_to:
            continue
        (pending if t.booking_date is None else booked).append(_transaction(account, t))
    report: dict[str, Any] = {"_links": {"account": {"href": call.href(f"/accounts/{rid}")}}}
    if status in ("booked", "both"):
        report["booked"] = booked
    if status in ("pending", "both"):
        report["pending"] = pending
    body: dict[str, Any] = {
        "account": {"iban": account.iban, "currency": account.currency},
        "transactions": report,
    }
    if call.request.query_params.get("withBalance") == "true":
        body["balances"] = _balances(account, call.now)
    return _json(body)


def _read_transaction(
    transaction_id: str,
) -> Callable[[Call, Psd2Consent, str, Psd2Account], Response]:
    def then(call: Call, consent: Psd2Consent, rid: str, account: Psd2Account) -> Response:
        for t in transactions_for(account, today_of(call.now)):
            if t.id == transaction_id:
                details = _transaction(account, t)
                return _json({"transactionsDetails": {"transactionDetails": details}})
        raise Psd2Error(404, "RESOURCE_UNKNOWN", "The transaction is unknown.")

    return then


# ---------------------------------------------------------------------- routes


def aspsp_router(aspsp: Psd2Aspsp) -> APIRouter:
    router = APIRouter(prefix=f"/{aspsp.path}/v1")

    async def run(
        request: Request, operation: Operation, *, psu_required: bool = False
    ) -> Response:
        response: Response = await run_in_threadpool(
            _run, request, aspsp, operation, psu_required=psu_required
        )
        return response

    @router.post("/consents")
    async def create_consent(request: Request) -> Response:
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json" and not aspsp.down:
            return _render_error(
                Psd2Error(415, "UNSUPPORTED_MEDIA_TYPE", "JSON only."), _request_id(request)
            )
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return await run(request, _create_consent(body), psu_required=True)

    @router.get("/consents/{consent_id}")
    async def get_consent(request: Request, consent_id: str) -> Response:
        return await run(request, _consent_operation(consent_id, _consent_information))

    @router.delete("/consents/{consent_id}")
    async def delete_consent(request: Request, consent_id: str) -> Response:
        return await run(request, _consent_operation(consent_id, _delete_consent))

    @router.get("/consents/{consent_id}/status")
    async def consent_status(request: Request, consent_id: str) -> Response:
        return await run(request, _consent_operation(consent_id, _consent_status))

    @router.get("/consents/{consent_id}/authorisations")
    async def authorisations(request: Request, consent_id: str) -> Response:
        return await run(request, _consent_operation(consent_id, _authorisation_ids))

    @router.post("/consents/{consent_id}/authorisations")
    async def start(request: Request, consent_id: str) -> Response:
        await request.body()
        return await run(request, _consent_operation(consent_id, _start_authorisation))

    @router.get("/consents/{consent_id}/authorisations/{authorisation_id}")
    async def sca_status(request: Request, consent_id: str, authorisation_id: str) -> Response:
        return await run(request, _consent_operation(consent_id, _sca_status(authorisation_id)))

    @router.put("/consents/{consent_id}/authorisations/{authorisation_id}")
    async def update(request: Request, consent_id: str, authorisation_id: str) -> Response:
        await request.body()
        return await run(request, _consent_operation(consent_id, _embedded_refused))

    @router.get("/accounts")
    async def accounts(request: Request) -> Response:
        return await run(request, _list_accounts)

    @router.get("/accounts/{account_id}")
    async def account(request: Request, account_id: str) -> Response:
        return await run(request, _account_operation(account_id, "account", _read_account))

    @router.get("/accounts/{account_id}/balances")
    async def balances(request: Request, account_id: str) -> Response:
        return await run(request, _account_operation(account_id, "balances", _read_balances))

    @router.get("/accounts/{account_id}/transactions")
    async def transactions(request: Request, account_id: str) -> Response:
        return await run(
            request, _account_operation(account_id, "transactions", _read_transactions)
        )

    @router.get("/accounts/{account_id}/transactions/{transaction_id}")
    async def transaction(request: Request, account_id: str, transaction_id: str) -> Response:
        return await run(
            request,
            _account_operation(account_id, "transactions", _read_transaction(transaction_id)),
        )

    return router


def routers() -> list[APIRouter]:
    return [aspsp_router(aspsp) for aspsp in PSD2_ASPSPS]
