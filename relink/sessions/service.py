"""Creating sessions and moving them between states (spec 10-api "Sessions", 20-relink §2–§4).

Relink sessions are validated against the authorization they repair; hosted email
sessions must pass hosted relink eligibility. "One pending hosted session per account"
and the 48-hour rule hold under concurrency because the database enforces them: a
partial unique index allows one pending hosted session per account, so of two
concurrent requests one inserts and the other fails and is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.eligibility.relink_reason import RelinkReason, relink_reason_column
from relink.eligibility.rules import MESSAGES, RECENT_REQUEST, Reason
from relink.eligibility.service import Eligibility, eligible_for_hosted_relink
from relink.events.service import emit
from relink.institutions.repository import InstitutionRepository
from relink.kit import ids
from relink.kit.crypto import token_digest
from relink.kit.errors import ApiError, ParameterMissing
from relink.kit.provenance import EventContext
from relink.models import (
    GIVEN_UP,
    Account,
    Authorization,
    ConnectionStatus,
    DeliveryState,
    EmailDelivery,
    EventType,
    Platform,
    Session,
    SessionStatus,
    TimelineKind,
)
from relink.outbox.store import enqueue
from relink.runtime import Runtime
from relink.sessions import timeline
from relink.sessions.repository import SessionRepository
from relink.sessions.schemas import render_session
from relink.tenancy import Scope

RELINK_EMAIL = "email.relink_request"
SANDBOX_RETURN_HOSTS = ("localhost", "127.0.0.1")


class RelinkNotEligible(ApiError):
    code = "relink_not_eligible"

    def __init__(self, eligibility: Eligibility, *, param: str) -> None:
        reasons = [{"code": r.value, "message": MESSAGES[r]} for r in eligibility.reasons]
        super().__init__(
            "This account cannot receive a hosted relink request now: "
            + " ".join(MESSAGES[r] for r in eligibility.reasons),
            param=param,
            extra={"reasons": reasons},
        )


class UrlInvalid(ApiError):
    code = "url_invalid"


class HostedRelinkDisabled(ApiError):
    code = "hosted_relink_disabled"

    def __init__(self) -> None:
        super().__init__(
            "Hosted relink is turned off for this platform, so Relink sends no relink "
            "emails. An owner or admin can turn it on in the dashboard under Settings.",
            param="hosted[delivery_method]",
        )


def hosted_relink_enabled(db: DbSession, platform_id: str) -> bool:
    """The platform's switch (dashboard Settings) for hosted relink emails."""
    platform = db.get(Platform, platform_id)
    return platform is not None and platform.hosted_relink_enabled


@dataclass
class NewSession:
    holder_type: str | None = None
    customer: str | None = None
    account: str | None = None
    permissions: list[str] = field(default_factory=list)
    prefetch: list[str] = field(default_factory=list)
    filters: dict[str, object] | None = None
    limits: dict[str, int] | None = None
    return_url: str | None = None
    relink_authorization: str | None = None
    relink_account: str | None = None
    ui_mode: str = "modal"
    delivery_method: str | None = None
    hosted_return_url: str | None = None
    hosted_given: bool = False
    created_by: str | None = None


def check_return_url(url: str, *, livemode: bool, param: str) -> str:
    """Absolute https in live mode; http://localhost and http://127.0.0.1 also in sandbox."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UrlInvalid(f"Invalid URL: {param}", param=param) from None
    ok = parts.scheme == "https" and bool(parts.hostname)
    if not livemode and parts.scheme == "http" and parts.hostname in SANDBOX_RETURN_HOSTS:
        ok = True
    if not ok or parts.username or parts.password:
        allowed = "an absolute https URL" + (
            "" if livemode else " (or http://localhost / http://127.0.0.1)"
        )
        raise UrlInvalid(f"Invalid URL: {param} must be {allowed}.", param=param)
    return url


class SessionService:
    def __init__(
        self, db: DbSession, scope: Scope, runtime: Runtime | None, context: EventContext
    ) -> None:
        """``runtime`` may be None where sessions are only finished (scans): a finished
        session has no link to render."""
        self.db = db
        self.scope = scope
        self.runtime = runtime
        self.context = context
        self.sessions = SessionRepository(db, scope)
        self.accounts = AccountRepository(db, scope)

    # -- creation --------------------------------------------------------------------------

    def create(self, request: NewSession) -> Session:
        now = self.scope.now()
        authorization, target = self._relink_target(request)
        self._check_modes(request)
        for url, param in (
            (request.return_url, "return_url"),
            (request.hosted_return_url, "hosted[return_url]"),
        ):
            if url is not None:
                check_return_url(url, livemode=self.scope.livemode, param=param)
        holder_type, customer, connected = self._holder(request, authorization)
        self._check_institution_filter(request)
        if request.delivery_method == "email" and not hosted_relink_enabled(
            self.db, self.scope.platform_id
        ):
            raise HostedRelinkDisabled()
        if request.delivery_method is not None:
            assert authorization is not None
            self._check_relink_allowed(request, authorization, target, now)

        session = Session(
            id=ids.new("fcsess"),
            holder_type=holder_type,
            customer_id=customer,
            connected_account_id=connected,
            client_secret_digest="",
            permissions=request.permissions,
            prefetch=request.prefetch,
            filters=request.filters,
            limits=request.limits,
            return_url=request.return_url,
            ui_mode=request.ui_mode,
            delivery_method=request.delivery_method,
            hosted_return_url=request.hosted_return_url,
            relink_authorization_id=authorization.id if authorization else None,
            relink_account_id=target.id if target else None,
            status=SessionStatus.pending,
            created_by=request.created_by,
            relink_reason=self._relink_reason(request, authorization, target),
            created_at=now,
            updated_at=now,
        )
        assert self.runtime is not None, "creating a session needs the runtime"
        session.client_secret_digest = token_digest(self.runtime.client_secret(session.id))
        if session.ui_mode == "hosted":
            session.link_token_digest = token_digest(self.runtime.link_token(session.id))
        if target is not None and session.ui_mode == "hosted":
            self._supersede_pending(target.id, now, emailing=session.delivery_method == "email")
        self.sessions.add(session)
        try:
            self.db.flush()
        except IntegrityError:
            # Another request created a pending hosted session for this account at the
            # same moment; the database let exactly one of them in. No savepoint: the
            # caller's transaction is spoiled and every caller rolls it back on an
            # ApiError (one that goes on after a refusal wraps the call in its own).
            raise ApiError(
                "A hosted session for this account was created at the same moment; "
                "this request was not applied.",
                param="relink_options[account]",
                code="relink_not_eligible",
                extra={
                    "reasons": [
                        {
                            "code": Reason.recent_request.value,
                            "message": MESSAGES[Reason.recent_request],
                        }
                    ]
                },
            ) from None
        if session.delivery_method is not None:
            timeline.record(self.db, session.id, TimelineKind.created, now, by=request.created_by)
            if target is not None:
                target.last_relink_request_at = now
        if session.delivery_method == "email":
            enqueue(
                self.db,
                RELINK_EMAIL,
                {"session_id": session.id},
                dedupe_key=f"email:relink:{session.id}",
                platform_id=self.scope.platform_id,
                livemode=self.scope.livemode,
            )
            timeline.record(self.db, session.id, TimelineKind.email_queued, now)
        return session

    def _relink_target(self, request: NewSession) -> tuple[Authorization | None, Account | None]:
        if request.relink_authorization is None:
            if request.relink_account is not None:
                raise ParameterMissing("relink_options[authorization]")
            return None, None
        authorization = AuthorizationRepository(self.db, self.scope).get(
            request.relink_authorization, param="relink_options[authorization]"
        )
        if authorization.status == ConnectionStatus.disconnected:
            raise ApiError(
                f"The authorization {authorization.id} is disconnected and cannot be relinked; "
                "start a new link session instead.",
                param="relink_options[authorization]",
            )
        target = None
        if request.relink_account is not None:
            target = self.accounts.get(request.relink_account, param="relink_options[account]")
            if target.authorization_id != authorization.id:
                raise ApiError(
                    f"The account {target.id} does not belong to the authorization {authorization.id}.",
                    param="relink_options[account]",
                )
        return authorization, target

    def _check_modes(self, request: NewSession) -> None:
        if request.delivery_method is not None:
            if request.relink_authorization is None:
                raise ApiError(
                    "hosted[delivery_method] can only be used with relink_options.",
                    param="hosted[delivery_method]",
                )
            if request.ui_mode != "hosted":
                raise ApiError("hosted[delivery_method] requires ui_mode=hosted.", param="ui_mode")
        if request.ui_mode == "hosted" and not request.hosted_given:
            raise ParameterMissing("hosted")
        if request.ui_mode != "hosted" and request.hosted_given:
            raise ApiError("hosted can only be used with ui_mode=hosted.", param="hosted")

    def _check_institution_filter(self, request: NewSession) -> None:
        """filters[institution] fixes the bank of a link flow: it must be one of the mode's."""
        institution = (request.filters or {}).get("institution")
        if institution is not None:
            InstitutionRepository(self.db, self.scope.livemode).get(
                str(institution), param="filters[institution]"
            )

    def _holder(
        self, request: NewSession, authorization: Authorization | None
    ) -> tuple[str, str | None, str | None]:
        given: tuple[str, str | None, str | None]
        if request.holder_type is not None:
            if request.holder_type == "customer":
                if request.customer is None:
                    raise ParameterMissing("account_holder[customer]")
                CustomerRepository(self.db, self.scope).get(
                    request.customer, param="account_holder[customer]"
                )
                given = ("customer", request.customer, None)
            else:
                if request.account is None:
                    raise ParameterMissing("account_holder[account]")
                ConnectedAccountRepository(self.db, self.scope).get(
                    request.account, param="account_holder[account]"
                )
                given = ("account", None, request.account)
            if authorization is not None and given != (
                authorization.holder_type,
                authorization.customer_id,
                authorization.connected_account_id,
            ):
                raise ApiError(
                    "account_holder must be the account holder of the authorization being relinked.",
                    param="account_holder",
                )
            return given
        if authorization is None:
            raise ParameterMissing("account_holder")
        return (
            authorization.holder_type,
            authorization.customer_id,
            authorization.connected_account_id,
        )

    def _check_relink_allowed(
        self,
        request: NewSession,
        authorization: Authorization,
        target: Account | None,
        now: dt.datetime,
    ) -> None:
        candidates = (
            [target] if target is not None else self.accounts.of_authorization(authorization.id)
        )
        param = "relink_options[account]" if target is not None else "relink_options[authorization]"
        if request.delivery_method == "email":
            results = [
                eligible_for_hosted_relink(self.db, self.scope, account, now)
                for account in candidates
            ]
            if not any(result.eligible for result in results):
                raise RelinkNotEligible(_first_refusal(results, target), param=param)
            return
        # url: the business sends its own message, so rules 2 and 3 do not apply (nor are
        # they queried), but there must be something to repair or a permission change to
        # ask for.
        repair_reasons = {
            Reason.not_broken,
            Reason.not_repairable,
            Reason.disconnected,
            Reason.institution_unsupported,
        }
        asks_more = any(set(request.permissions) - set(a.permissions) for a in candidates)
        if asks_more:
            return
        results = [
            eligible_for_hosted_relink(self.db, self.scope, account, now, delivery_rules=False)
            for account in candidates
        ]
        if not any(not (set(result.reasons) & repair_reasons) for result in results):
            refusal = _first_refusal(results, target)
            raise RelinkNotEligible(
                Eligibility(
                    refusal.account_id, [r for r in refusal.reasons if r in repair_reasons]
                ),
                param=param,
            )

    # -- state changes -------------------------------------------------------------------

    def _supersede_pending(self, account_id: str, now: dt.datetime, *, emailing: bool) -> None:
        # Locked and read fresh: a request that committed since the eligibility check
        # (PostgreSQL reads committed rows here) is seen, so the 48-hour rule holds under
        # concurrency; one still in flight collides on the unique index instead.
        for old in self.db.scalars(
            self.sessions.pending_hosted_for_account(account_id).with_for_update()
        ):
            if (
                emailing
                and old.delivery_method == "email"
                and old.created_at > now - RECENT_REQUEST
                and not self._email_given_up(old)
            ):
                raise RelinkNotEligible(
                    Eligibility(
                        account_id, [Reason.recent_request], old.created_at + RECENT_REQUEST
                    ),
                    param="relink_options[account]",
                )
            self.finish(
                old,
                SessionStatus.cancelled,
                failure_reason="no_authorization",
                cancelled_reason="other",
                superseded=True,
            )
        self.db.flush()

    def resend_given_up_email(self, session_id: str) -> bool:
        """Queue the email of a pending request once more after it was given up (the
        operator's "Send again", once the mail server is fixed). False unless the session
        is this scope's, still pending, and its email was given up."""
        return self._requeue_email(session_id, GIVEN_UP, to=None)

    def resend_email(self, session_id: str, *, to: str) -> bool:
        """Send a pending request's email again, with the same link, to ``to`` (the
        address it went to: the worker refuses to send if the holder's address changed
        meanwhile). False unless the session is this scope's, still pending, and its
        email was sent or given up (a queued one is on its way already)."""
        return self._requeue_email(session_id, (DeliveryState.sent, *GIVEN_UP), to=to)

    def _requeue_email(
        self, session_id: str, states: tuple[DeliveryState, ...], *, to: str | None
    ) -> bool:
        session = self.db.scalars(
            self.sessions.select().where(Session.id == session_id).with_for_update()
        ).first()
        if session is None or session.status != SessionStatus.pending:
            return False
        delivery = self.db.get(EmailDelivery, session.id, with_for_update=True)
        if delivery is None or delivery.state not in states:
            return False
        now = self.scope.now()
        delivery.state = DeliveryState.queued
        delivery.updated_at = now
        # An operator's: it goes out even if the holder opted out of automatic emails.
        payload: dict[str, object] = {"session_id": session.id, "resend": True}
        if to is not None:
            payload["to"] = to
        enqueue(
            self.db,
            RELINK_EMAIL,
            payload,
            dedupe_key=f"email:relink:{session.id}:resend:{ids.new('resend')}",
            platform_id=self.scope.platform_id,
            livemode=self.scope.livemode,
        )
        timeline.record(self.db, session.id, TimelineKind.email_queued, now, resent=True)
        return True

    def cancel_request(self, session_id: str, *, actor: str) -> bool:
        """The operator's Cancel: a pending hosted request ends as cancelled (its link
        stops working, an email not yet sent is not sent). False unless the session is
        this scope's, a hosted email request, and still pending."""
        session = self.db.scalars(
            self.sessions.select()
            .where(Session.id == session_id, Session.delivery_method.is_not(None))
            .with_for_update()
        ).first()
        if session is None or session.status != SessionStatus.pending:
            return False
        self.finish(
            session,
            SessionStatus.cancelled,
            failure_reason="no_authorization",
            cancelled_reason="other",
            failure_detail={"by": actor},
        )
        return True

    def _relink_reason(
        self, request: NewSession, authorization: Authorization | None, target: Account | None
    ) -> str | None:
        """Why the account needs this hosted relink (the outreach report's "by reason")."""
        if request.delivery_method is None or authorization is None:
            return None
        if target is not None:
            return self.db.scalar(select(relink_reason_column()).where(Account.id == target.id))
        if authorization.status == ConnectionStatus.inactive:
            return authorization.inactive_cause or RelinkReason.unspecified.value
        return RelinkReason.other.value

    def _email_given_up(self, session: Session) -> bool:
        """A request whose email was finally given up never reached the holder: it does
        not hold the account for 48 hours (see ``eligibility.query.email_given_up``)."""
        delivery = self.db.get(EmailDelivery, session.id)
        return delivery is not None and delivery.state in GIVEN_UP

    def finish(
        self,
        session: Session,
        status: SessionStatus,
        *,
        failure_reason: str | None = None,
        cancelled_reason: str | None = None,
        result_authorization: str | None = None,
        result_account: str | None = None,
        superseded: bool = False,
        timeline_kind: TimelineKind | None = None,
        failure_detail: dict[str, object] | None = None,
    ) -> None:
        """Move a pending session to a final status, with its timeline entry and event.

        ``timeline_kind`` overrides the entry named after the status (``expired``);
        ``failure_detail`` (the error's type, the bank's codes: never personal data) is
        kept on the timeline entry."""
        if session.status != SessionStatus.pending:
            return
        now = self.scope.now()
        previous = {"status": session.status}
        session.status = status
        session.failure_reason = failure_reason
        session.cancelled_reason = cancelled_reason if status == SessionStatus.cancelled else None
        session.result_authorization_id = result_authorization
        session.result_account_id = result_account
        session.updated_at = now
        session.finished_at = now
        if session.delivery_method is not None:
            kind = (
                timeline_kind
                or {
                    SessionStatus.succeeded: TimelineKind.succeeded,
                    SessionStatus.failed: TimelineKind.failed,
                    SessionStatus.cancelled: TimelineKind.cancelled,
                }[status]
            )
            detail: dict[str, object] = dict(failure_detail or {})
            if superseded:
                detail["superseded"] = True
            timeline.record(self.db, session.id, kind, now, **detail)
        self.db.flush()
        emit(
            self.db,
            self.scope,
            EventType.session_updated,
            render_session(self.db, self.scope, self.runtime, session),
            self.context,
            previous_attributes=previous,
        )


def _first_refusal(results: list[Eligibility], target: Account | None) -> Eligibility:
    if not results:
        return Eligibility(target.id if target else "", [Reason.not_broken])
    return results[0]
