"""The holder's hosted flow (spec 20-relink §4, 10-api "Sessions"): services, in the
request's transaction. One machine serves relink and link sessions:

landing ──Continue──▶ OAuth: the bank's authorize page ──callback──▶ verify ──▶ repair
                   └▶ credentials form ──▶ challenges* ──────────────▶ verify ──▶ repair

A link session (no ``relink_options``) starts at the institution picker (or at a landing
naming ``filters[institution]``), authenticates the same way, and then, instead of
verify + repair, lets the holder choose accounts and consent (:mod:`relink.hosted.connect`).

Outcomes (the spec's table):

- repaired → ``succeeded`` (``relink_result.authorization``, ``.account`` when required);
- gave up before authenticating → ``cancelled`` + ``no_authorization``;
- authenticated, never shared the required account, gave up → ``cancelled`` + ``no_account``;
- the bank or connector failed unexpectedly (``Unexpected``, the bank's ``error``
  keyword) → ``failed`` + ``other``;
- the bank is down (``InstitutionDown``) → nothing changes: the session stays
  ``pending`` and the page says to try again later.

A link session ends the same ways: ``succeeded`` (with its ``accounts``), ``cancelled``,
``failed``, or still ``pending`` while the bank is down.

OAuth is bound to the browser that pressed Continue: the redirect to the bank sets a
cookie (:func:`browser_binding`, a MAC of that flow's ``state``) and the callback
completes the flow only in a browser that carries it. A callback from any other
browser (a victim sent the attacker's authorize URL, or an attacker replaying a
holder's state with his own code) is refused with a page that says what to do, and
changes nothing: the flow keeps waiting for its own browser.

Bank calls happen inside the request's transaction (the holder is waiting for them).
The state between requests (which step, the OAuth ``state`` digest, the sealed PKCE
verifier or pending challenge, refused attempts) lives in ``HostedFlow``.
Wrong usernames, passwords and answers may be retried; after
:data:`MAX_CREDENTIAL_FAILURES` refusals the session takes no more, and the holder can
only ask for a new link. Each attempt is counted, and committed, before the bank sees
it (:meth:`HostedFlowService.count_attempt`): of any number of parallel attempts at most
the limit reach the bank, and an attempt whose step then fails for another reason
still counts. An attempt the bank did not refuse is given back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from relink.connectors.base import (
    BankAccount,
    Challenge,
    Connector,
    ConnectorError,
    CredentialForm,
    Grant,
    InstitutionDown,
    InvalidCredentials,
    PsuContext,
    Redirect,
    SignInCancelled,
    Waiting,
)
from relink.hosted import connect, links, notes
from relink.hosted.bank_back import note_bank_unavailable
from relink.hosted.connect import Shared
from relink.hosted.links import (
    CSRF_PURPOSE,
    MAX_CREDENTIAL_FAILURES,
    Confirming,
    HostedLink,
    LinkAddress,
    LinkState,
)
from relink.hosted.repair import fetch_numbers, repair, wants_number
from relink.hosted.screens import Screen, bare, screen
from relink.hosted.traffic import Visit, machine_signal
from relink.institutions.connectors import ConnectorUnavailable, connector_for
from relink.institutions.health import record_call_outcome
from relink.kit import clock
from relink.kit.crypto import constant_time_equals, random_token, token_digest
from relink.kit.i18n import negotiate
from relink.kit.provenance import EventContext
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Account,
    FlowStep,
    HostedFlow,
    Session,
    SessionStatus,
    TimelineKind,
)
from relink.runtime import Runtime
from relink.sessions import timeline
from relink.sessions.bundles import bundle_url
from relink.sessions.service import SessionService
from relink.web.csrf import CsrfError, csrf_token, verify_csrf

log = structlog.get_logger("relink.hosted")

CALLBACK_PATH = "/relink/oauth/callback"
OAUTH_COOKIE_PREFIX = "relink_oauth_"
OAUTH_BINDING_PURPOSE = "hosted-oauth-browser"
# How long the bank's page may stay open before the callback asks to start again.
OAUTH_COOKIE_MAX_AGE = 24 * 60 * 60

OUTCOME_PAGES = {
    LinkState.succeeded: "success",
    LinkState.failed: "failed",
    LinkState.cancelled: "cancelled",
    LinkState.expired: "expired",
    LinkState.superseded: "superseded",
}
STEP_PAGES = {
    FlowStep.landing: "landing",
    FlowStep.oauth: "landing",  # back from the bank without finishing: start again
    FlowStep.credentials: "credentials",
    FlowStep.challenge: "challenge",
    FlowStep.account_needed: "account_needed",
    FlowStep.unavailable: "unavailable",
    FlowStep.accounts: "link_accounts",
    FlowStep.consent: "link_consent",
    FlowStep.waiting: "waiting",
}
# A link session's own pages in place of the relink ones (the rest are shared).
LINK_PAGES = {
    "success": "link_success",
    "failed": "link_failed",
    "cancelled": "link_cancelled",
}


@dataclass(frozen=True)
class BrowserCookie:
    """A cookie the view sets (``value``) or removes (``None``) with its answer."""

    name: str
    value: str | None
    path: str = CALLBACK_PATH
    max_age: int = OAUTH_COOKIE_MAX_AGE


@dataclass
class Reply:
    """What the view does: redirect (303) somewhere, or render a screen."""

    redirect_to: str | None = None
    screen: Screen | None = None
    cookies: list[BrowserCookie] = field(default_factory=list)


def browser_binding(runtime: Runtime, state: str) -> BrowserCookie:
    """The cookie that binds the OAuth flow of ``state`` to the browser that started it.

    One cookie per flow (its name carries a digest of the state), so two links opened in
    one browser do not replace each other's; its value is a MAC of the state under the
    server's key, which only Relink can make and only that browser holds (HttpOnly,
    sent only to the callback)."""
    digest = token_digest(state)
    return BrowserCookie(
        OAUTH_COOKIE_PREFIX + digest[:16],
        csrf_token(runtime.csrf_key, OAUTH_BINDING_PURPOSE, digest),
    )


@dataclass
class Attempt:
    """A credential attempt of a session, counted before the bank sees it."""

    session_id: str
    refused: bool = False


class _Stop(Exception):
    """Ends a step early with a reply (refused form, finished session, bank down, ...)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply


@dataclass(frozen=True)
class BrowserLanguage:
    """What a request says of the holder's language: the language switcher's choice
    (remembered for the link) and the browser's ``Accept-Language``."""

    chosen: str | None = None
    accept_language: str | None = None


class HostedFlowService:
    def __init__(
        self,
        db: DbSession,
        runtime: Runtime,
        context: EventContext,
        *,
        psu: PsuContext | None = None,
        visit: Visit | None = None,
        language: BrowserLanguage | None = None,
    ) -> None:
        """``psu`` is the holder's request (address, browser), for banks that want it;
        ``visit`` what the request says about its sender (a person or a machine);
        ``language`` what the browser says of the holder's language."""
        self.db = db
        self.runtime = runtime
        self.context = context
        self.psu = psu
        self.visit = visit
        self.language = language or BrowserLanguage()
        # Set by each POST's gate: the request looks like a machine's, so what it
        # records does not count as the holder's (the visit mark, ``opened``).
        self.automated = False

    # ------------------------------------------------------------------ URLs

    def link_url(self, link: HostedLink) -> str:
        return self.runtime.settings.public_url.rstrip("/") + link.path

    def callback_url(self) -> str:
        return self.runtime.settings.public_url.rstrip("/") + CALLBACK_PATH

    def _back_to_link(self, link: HostedLink) -> Reply:
        return Reply(redirect_to=self.link_url(link))

    def _note(self, link: HostedLink, code: str) -> Reply:
        """Back to the link's page, which then says ``code`` (:mod:`relink.hosted.notes`)."""
        note = notes.sign(self.runtime.csrf_key, link, code)
        return Reply(redirect_to=f"{self.link_url(link)}?{notes.PARAM}={note}")

    def _unknown(self, address: LinkAddress) -> Reply:
        """A form of no known link: to its address, which says so (404) when loaded."""
        return Reply(redirect_to=self.runtime.settings.public_url.rstrip("/") + address.path)

    # ------------------------------------------------------------------ GET

    def show(
        self, address: LinkAddress, query: str | None = None, note: str | None = None
    ) -> Reply:
        """The link's page. Its only side effect is the "viewed" mark (scanner-safe);
        ``query`` searches the institution picker; ``note`` is what the last form's
        redirect asked the page to say (ignored unless Relink made it for this step)."""
        link = links.resolve(self.db, address)
        if link is None:
            return Reply(screen=bare("not_found", 404))
        said = notes.read(self.runtime.csrf_key, link, note)
        if said is not None and said.page == "forbidden":
            return Reply(screen=bare("forbidden", said.status_code))
        state = links.state_of(self.db, link)
        if state != LinkState.pending:
            return Reply(screen=self._outcome(link, state))
        links.mark_viewed(self.db, link, self.visit, key=self.runtime.link_key)
        flow = link.flow
        step = FlowStep(flow.step) if flow is not None else FlowStep.landing
        if flow is not None and flow.credential_failures >= MAX_CREDENTIAL_FAILURES:
            locked = screen(self.db, self.runtime, link, "too_many_attempts", status_code=429)
            return Reply(screen=locked)
        challenge = self._pending_challenge(flow) if step == FlowStep.challenge else None
        shared = self._shared(flow) if step in (FlowStep.accounts, FlowStep.consent) else None
        page = self._page(link, STEP_PAGES[step])
        return Reply(
            screen=screen(
                self.db,
                self.runtime,
                link,
                page,
                status_code=said.status_on(page) if said is not None else 200,
                error=said.error_on(page) if said is not None else None,
                notice=said.notice_on(page) if said is not None else None,
                challenge=challenge,
                attempts_left=self._attempts_left(flow),
                shared=shared,
                query=query,
                poll_after=self._poll_after(flow),
            )
        )

    def _outcome(self, link: HostedLink, state: str) -> Screen:
        return screen(
            self.db, self.runtime, link, self._page(link, OUTCOME_PAGES[state]), state=state
        )

    @staticmethod
    def _page(link: HostedLink, page: str) -> str:
        """A relink page's name, or its counterpart for a link session."""
        if link.is_relink:
            return page
        if page == "landing":
            return "link_landing" if link.institution is not None else "link_institutions"
        return LINK_PAGES.get(page, page)

    # ------------------------------------------------------------------ POST gate

    def _posted(self, address: LinkAddress, csrf: str | None) -> tuple[HostedLink, HostedFlow]:
        """The link of a POST, locked, with its flow; stops unless the flow may run."""
        link = links.resolve(self.db, address, lock=True)
        if link is None:
            raise _Stop(self._unknown(address))
        try:
            verify_csrf(self.runtime.csrf_key, CSRF_PURPOSE, link.digest, csrf)
        except CsrfError:
            raise _Stop(self._note(link, "forbidden")) from None
        if not links.is_usable(link):
            raise _Stop(self._back_to_link(link))
        now = link.scope.now()
        self.automated = self.visit is not None and links.looks_automated(
            self.db, link, self.visit, key=self.runtime.link_key
        )
        if not self.automated:
            link.session.link_last_visit_at = now
        flow = links.flow_of(self.db, link)
        flow.updated_at = now
        return link, flow

    @staticmethod
    def _run(step: Callable[[], Reply]) -> Reply:
        try:
            return step()
        except _Stop as stop:
            return stop.reply

    # ------------------------------------------------------------------ Continue

    def start(self, address: LinkAddress, csrf: str | None) -> Reply:
        """Continue (or try again): begin authenticating at the institution."""
        return self._run(lambda: self._begin(*self._posted(address, csrf)))

    def choose_institution(
        self, address: LinkAddress, csrf: str | None, institution_id: str
    ) -> Reply:
        """Link sessions: authenticate at the institution picked (none: pick again)."""
        return self._run(lambda: self._choose_institution(address, csrf, institution_id))

    def _choose_institution(
        self, address: LinkAddress, csrf: str | None, institution_id: str
    ) -> Reply:
        link, flow = self._posted(address, csrf)
        if link.is_relink:
            return self._back_to_link(link)
        if not institution_id:
            # "Choose another bank": back to the picker (unless filters fixed the bank).
            self._discard_shared(link, flow)
            flow.step = FlowStep.landing
            flow.oauth_state_digest = None
            if link.fixed_institution_id is None:
                flow.institution_id = None
            return self._back_to_link(link)
        institution = connect.pickable(self.db, link, institution_id)
        if institution is None:
            return self._note(link, "unknown_institution")
        flow.institution_id = institution.id
        link.institution = institution
        return self._begin(link, flow)

    def _begin(self, link: HostedLink, flow: HostedFlow) -> Reply:
        if link.institution is None:
            return self._back_to_link(link)  # a link session picks its bank first
        if self.visit is not None and machine_signal(self.visit) is not None:
            # A request that says it is a machine's (a scanner's user agent) does not
            # start signing in: the holder finds the landing as it was.
            return self._back_to_link(link)
        if not link.is_relink:
            self._discard_shared(link, flow)  # signing in again replaces an unused consent
        now = link.scope.now()
        if flow.opened_at is None and not self.automated:
            flow.opened_at = now
            self._timeline(link, TimelineKind.opened)
        self._refuse_if_locked(link, flow)
        connector = self._connector(link)
        state = random_token()
        try:
            begun = connector.begin_auth(
                state=state,
                redirect_uri=self.callback_url(),
                accounts=self._relinked(link),
                login_hint=self._login_hint(link),
                locale=self._locale(link),
            )
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        if isinstance(begun, (Redirect, Waiting)):
            return self._away(link, flow, begun)
        assert isinstance(begun, CredentialForm)
        flow.step = FlowStep.credentials
        flow.oauth_state_digest = None
        flow.sealed = None
        return self._back_to_link(link)

    @staticmethod
    def _relinked(link: HostedLink) -> list[str]:
        """The bank's ids of the accounts a relink asks access to again (none for a link
        session: the holder chooses at the bank)."""
        if not link.is_relink:
            return []
        if link.target is not None:
            return [link.target.bank_account_id]
        return [a.bank_account_id for a in link.accounts]

    def _locale(self, link: HostedLink) -> str:
        """The holder's language as the link's pages speak it, for the bank's pages and
        challenges: the switcher's choice, the holder's, the browser's, the platform's."""
        return negotiate(
            explicit=self.language.chosen,
            preferred=link.holder.preferred_locales,
            accept_language=self.language.accept_language,
            default=link.platform.default_locale,
        )

    @staticmethod
    def _login_hint(link: HostedLink) -> str | None:
        """The bank-side login a relink repairs, when Relink knows it."""
        return link.authorization.bank_user if link.authorization is not None else None

    def _away(self, link: HostedLink, flow: HostedFlow, step: Redirect | Waiting) -> Reply:
        """The holder authorises at the bank: its page (bound to this browser) or its app
        (a waiting page here). What the connector needs back is sealed in the flow."""
        if isinstance(step, Waiting):
            flow.step = FlowStep.waiting
            flow.oauth_state_digest = None
            flow.sealed = self._waiting(step)
            return self._back_to_link(link)
        flow.step = FlowStep.oauth
        flow.oauth_state_digest = token_digest(step.state)
        flow.sealed = self._seal(
            {"code_verifier": step.code_verifier, "carried": dict(step.carried)}
        )
        return Reply(redirect_to=step.url, cookies=[browser_binding(self.runtime, step.state)])

    # ------------------------------------------------------------------ decoupled

    def wait(self, address: LinkAddress) -> Reply:
        """The waiting page's refresh: ask the bank whether the holder approved in its app.

        A GET (the page refreshes itself without JavaScript); it only moves a flow that
        is waiting, and only as far as the bank's answer says."""
        return self._run(lambda: self._wait(address))

    def _wait(self, address: LinkAddress) -> Reply:
        link = links.resolve(self.db, address, lock=True)
        if link is None:
            return Reply(screen=bare("not_found", 404))
        flow = link.flow
        if not links.is_usable(link) or flow is None or flow.step != FlowStep.waiting:
            return self._back_to_link(link)
        flow.updated_at = link.scope.now()
        carried = self._open(flow.sealed).get("carried") or {}
        connector = self._connector(link)
        try:
            answer = connector.poll(carried={str(k): str(v) for k, v in carried.items()})
        except SignInCancelled:
            return self._cancelled_at_bank(link, flow)
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        if isinstance(answer, Waiting):
            flow.sealed = self._waiting(answer)
            return Reply(
                screen=screen(
                    self.db, self.runtime, link, "waiting", poll_after=answer.poll_after_seconds
                )
            )
        flow.sealed = None
        flow.step = FlowStep.landing
        return self._authenticated(link, flow, connector, answer, bank_user=None)

    def _waiting(self, waiting: Waiting) -> bytes:
        return self._seal(
            {"carried": dict(waiting.carried), "poll_after": waiting.poll_after_seconds}
        )

    def _poll_after(self, flow: HostedFlow | None) -> int | None:
        if flow is None or flow.step != FlowStep.waiting:
            return None
        poll_after = self._open(flow.sealed).get("poll_after")
        return int(poll_after) if isinstance(poll_after, int) else None

    def _cancelled_at_bank(self, link: HostedLink, flow: HostedFlow) -> Reply:
        """The holder cancelled at the bank: they may try again or give up here."""
        flow.step = FlowStep.landing
        flow.sealed = None
        flow.oauth_state_digest = None
        return self._note(link, "bank_cancelled")

    # ------------------------------------------------------------------ OAuth callback

    def oauth_callback(
        self,
        state: str | None,
        code: str | None,
        error: str | None,
        cookies: Mapping[str, str],
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """The bank's redirect back: completes the flow of ``state``, only in the browser
        that started it (``cookies`` are the request's; ``params`` its whole query)."""
        query = dict(params or {})
        for key, value in (("state", state), ("code", code), ("error", error)):
            if value is not None:
                query[key] = value
        return self._run(lambda: self._oauth_callback(state, query, cookies))

    def _oauth_callback(
        self,
        state: str | None,
        params: Mapping[str, str],
        cookies: Mapping[str, str],
    ) -> Reply:
        flow = (
            self.db.scalars(
                select(HostedFlow)
                .where(HostedFlow.oauth_state_digest == token_digest(state))
                .with_for_update()
            ).first()
            if state
            else None
        )
        if flow is None or state is None:
            return Reply(screen=bare("not_found", 404))
        binding = browser_binding(self.runtime, state)
        presented = cookies.get(binding.name)
        assert binding.value is not None
        if presented is None or not constant_time_equals(presented, binding.value):
            # Not the browser that pressed Continue: nothing is consumed or failed, and
            # the code is never exchanged; the flow still waits for its own browser.
            log.info("hosted.oauth_other_browser", session=flow.session_id)
            return Reply(screen=bare("other_browser", 403))
        reply = self._run(lambda: self._bound_callback(flow, params))
        return replace(reply, cookies=[*reply.cookies, replace(binding, value=None)])

    def _bound_callback(self, flow: HostedFlow, params: Mapping[str, str]) -> Reply:
        row = self.db.get(Session, flow.session_id)
        assert row is not None
        link = links.load(self.db, links.address_of(self.runtime, row), row)
        # In its own browser, the state is single-use, whatever happens next.
        flow.oauth_state_digest = None
        sealed = self._open(flow.sealed)
        flow.sealed = None
        flow.step = FlowStep.landing
        flow.updated_at = link.scope.now()
        if not links.is_usable(link):
            return self._back_to_link(link)
        carried = {str(k): str(v) for k, v in (sealed.get("carried") or {}).items()}
        carried.setdefault("code_verifier", str(sealed.get("code_verifier", "")))
        connector = self._connector(link)
        try:
            answer = connector.complete_return(
                params=params,
                carried=carried,
                redirect_uri=self.callback_url(),
                next_state=random_token(),
            )
        except SignInCancelled:
            return self._cancelled_at_bank(link, flow)
        except ConnectorError as failure:
            return self._bank_failed(link, flow, failure)
        if isinstance(answer, (Redirect, Waiting)):
            return self._away(link, flow, answer)  # the bank asks for one more step
        return self._authenticated(link, flow, connector, answer, bank_user=None)

    # ------------------------------------------------------------------ credentials

    def count_attempt(
        self, address: LinkAddress, csrf: str | None, step: FlowStep
    ) -> Attempt | Reply:
        """Count one attempt at ``step`` (credentials or challenge) before it is made.

        Run in a transaction of its own, committed before the attempt: the counter is
        raised in one statement, only while it is below the limit, so parallel attempts
        cannot all read the same count. A Reply when the attempt may not be made."""
        link = links.resolve(self.db, address)
        if link is None:
            return self._unknown(address)
        try:
            verify_csrf(self.runtime.csrf_key, CSRF_PURPOSE, link.digest, csrf)
        except CsrfError:
            return self._note(link, "forbidden")
        flow = link.flow
        if not links.is_usable(link) or flow is None or flow.step != step:
            return self._back_to_link(link)
        counted = self.db.scalar(
            update(HostedFlow)
            .where(
                HostedFlow.session_id == link.session.id,
                HostedFlow.credential_failures < MAX_CREDENTIAL_FAILURES,
            )
            .values(credential_failures=HostedFlow.credential_failures + 1)
            .returning(HostedFlow.credential_failures)
        )
        if counted is None:
            return self._back_to_link(link)  # its page says "too many attempts"
        return Attempt(link.session.id)

    def _attempted(self, attempt: Attempt, step: Callable[[], Reply]) -> Reply:
        """Run a counted attempt; unless the bank refused it, give the count back."""
        reply = self._run(step)
        if not attempt.refused:
            self.db.execute(
                update(HostedFlow)
                .where(
                    HostedFlow.session_id == attempt.session_id,
                    HostedFlow.credential_failures > 0,
                )
                .values(credential_failures=HostedFlow.credential_failures - 1)
            )
        return reply

    def submit_credentials(
        self,
        address: LinkAddress,
        csrf: str | None,
        username: str,
        password: str,
        attempt: Attempt,
    ) -> Reply:
        return self._attempted(
            attempt,
            lambda: self._submit_credentials(address, csrf, username, password, attempt),
        )

    def _submit_credentials(
        self,
        address: LinkAddress,
        csrf: str | None,
        username: str,
        password: str,
        attempt: Attempt,
    ) -> Reply:
        link, flow = self._posted(address, csrf)
        if flow.step != FlowStep.credentials:
            return self._back_to_link(link)
        username = username.strip()
        if not username or not password:
            return self._note(link, "missing_credentials")
        connector = self._connector(link)
        try:
            answer = connector.submit_credentials(
                username=username,
                password=password,
                login_hint=self._login_hint(link),
                locale=self._locale(link),
            )
        except InvalidCredentials:
            return self._refused(link, flow, attempt, "invalid_credentials")
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        return self._signed_in_or_asked(link, flow, connector, answer, username)

    def answer_challenge(
        self, address: LinkAddress, csrf: str | None, answer: str, attempt: Attempt
    ) -> Reply:
        return self._attempted(
            attempt, lambda: self._answer_challenge(address, csrf, answer, attempt)
        )

    def _answer_challenge(
        self, address: LinkAddress, csrf: str | None, answer: str, attempt: Attempt
    ) -> Reply:
        link, flow = self._posted(address, csrf)
        if flow.step != FlowStep.challenge:
            return self._back_to_link(link)
        sealed = self._open(flow.sealed)
        challenge = self._pending_challenge(flow)
        if challenge is None:
            return self._back_to_link(link)
        username = str(sealed.get("username") or "") or None
        if not answer.strip():
            return self._note(link, "missing_answer")
        connector = self._connector(link)
        try:
            reply = connector.answer_challenge(challenge, answer.strip(), locale=self._locale(link))
        except InvalidCredentials as refused:
            retry = getattr(refused, "challenge", None) or challenge
            flow.sealed = self._seal({"challenge": retry.to_dict(), "username": username})
            return self._refused(link, flow, attempt, "incorrect_answer")
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        return self._signed_in_or_asked(link, flow, connector, reply, username)

    def _signed_in_or_asked(
        self,
        link: HostedLink,
        flow: HostedFlow,
        connector: Connector,
        answer: Grant | Challenge,
        username: str | None,
    ) -> Reply:
        if isinstance(answer, Challenge):
            flow.step = FlowStep.challenge
            flow.sealed = self._seal({"challenge": answer.to_dict(), "username": username})
            return self._back_to_link(link)
        flow.sealed = None
        return self._authenticated(link, flow, connector, answer, bank_user=username)

    def _refused(self, link: HostedLink, flow: HostedFlow, attempt: Attempt, error: str) -> Reply:
        """The bank refused a counted attempt: it stays counted. The count alone locks
        the session (:meth:`count_attempt` takes no more), whatever its step; a locked
        link's page says "too many attempts"."""
        attempt.refused = True
        if flow.credential_failures >= MAX_CREDENTIAL_FAILURES:
            return self._back_to_link(link)
        return self._note(link, error)

    def _refuse_if_locked(self, link: HostedLink, flow: HostedFlow) -> None:
        if flow.credential_failures >= MAX_CREDENTIAL_FAILURES:
            raise _Stop(self._back_to_link(link))

    # ------------------------------------------------------------------ verify + repair

    def _authenticated(
        self,
        link: HostedLink,
        flow: HostedFlow,
        connector: Connector,
        grant: Grant,
        *,
        bank_user: str | None,
    ) -> Reply:
        bank_user = grant.login or bank_user  # the login the bank says, over what was typed
        if flow.authenticated_at is None:
            flow.authenticated_at = link.scope.now()
            self._timeline(link, TimelineKind.authenticated)
        if not link.is_relink:
            return self._collect(link, flow, connector, grant, bank_user=bank_user)
        try:
            shared = connector.list_accounts(grant)
            matches, fetch = self._verify(link, shared)
            if matches is None:
                self._discard(connector, grant)
                flow.step = FlowStep.account_needed
                return self._back_to_link(link)
            numbers = fetch_numbers(connector, grant, fetch)
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        flow.step = FlowStep.landing
        repair(
            self.db,
            link,
            runtime=self.runtime,
            context=self.context,
            grant=grant,
            shared=shared,
            matches=matches,
            numbers=numbers,
            bank_user=bank_user,
            end_replaced=connector.ends_replaced_grant,
        )
        return self._done(link)

    def _done(self, link: HostedLink) -> Reply:
        # Only the return URL validated when the session was created: no open redirect.
        return_url = link.session.hosted_return_url or link.session.return_url
        if return_url is None and link.session.bundle_id is not None:
            # Back to the bundle's page: the holder's other connections to repair.
            return_url = bundle_url(self.runtime, link.session.bundle_id)
        return Reply(redirect_to=return_url) if return_url else self._back_to_link(link)

    def _verify(
        self, link: HostedLink, shared: list[BankAccount]
    ) -> tuple[list[tuple[Account, BankAccount]] | None, list[BankAccount]]:
        """Match the accounts the bank shares now to the session's, by the connector's
        stable id (never by name). None: the required account is missing."""
        lifecycle = Lifecycle(self.db, link.scope, self.context)
        by_stable_id = {b.stable_id: b for b in shared}
        permissions = list(link.session.permissions)
        assert link.authorization is not None
        if link.target is not None:
            found = by_stable_id.get(link.target.bank_account_id)
            if found is None:
                return None, []
            matches = [(link.target, found)]
            extra: list[BankAccount] = []
        else:
            known = {a.bank_account_id: a for a in link.accounts}
            matches = [(known[b.stable_id], b) for b in shared if b.stable_id in known]
            all_ids = {
                a.bank_account_id
                for a in lifecycle.accounts.of_authorization(link.authorization.id)
            }
            extra = [b for b in shared if b.stable_id not in all_ids]
            if not matches and not extra:
                return None, []
        fetch = [
            b
            for account, b in matches
            if wants_number(lifecycle, account, [*account.permissions, *permissions], b)
        ] + [b for b in extra if wants_number(lifecycle, None, permissions, b)]
        return matches, fetch

    def _discard(self, connector: Connector, grant: Grant) -> None:
        """A consent Relink will not use is revoked at once (best effort)."""
        try:
            connector.revoke(grant)
        except ConnectorError as error:
            log.info("hosted.revoke_failed", error=type(error).__name__)

    # ------------------------------------------------------------------ link: accounts

    def _collect(
        self,
        link: HostedLink,
        flow: HostedFlow,
        connector: Connector,
        grant: Grant,
        *,
        bank_user: str | None,
    ) -> Reply:
        """Link sessions: keep the grant and what the bank shares (sealed) for the
        holder to choose from."""
        try:
            shared = connector.list_accounts(grant)
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        flow.step = FlowStep.accounts
        flow.sealed = self._seal(Shared(grant, bank_user, shared).to_dict())
        return self._back_to_link(link)

    def choose_accounts(self, address: LinkAddress, csrf: str | None, chosen: list[str]) -> Reply:
        return self._run(lambda: self._choose_accounts(address, csrf, chosen))

    def _choose_accounts(self, address: LinkAddress, csrf: str | None, chosen: list[str]) -> Reply:
        link, flow = self._posted(address, csrf)
        shared = self._shared(flow)
        if flow.step not in (FlowStep.accounts, FlowStep.consent) or shared is None:
            return self._back_to_link(link)
        refused = connect.check_choice(link.session, shared, chosen)
        if refused is not None:
            # Back to choosing (also from the consent page's Back), nothing chosen.
            shared.chosen = []
            flow.sealed = self._seal(shared.to_dict())
            flow.step = FlowStep.accounts
            return self._note(link, refused.value)
        shared.chosen = list(dict.fromkeys(chosen))
        flow.sealed = self._seal(shared.to_dict())
        flow.step = FlowStep.consent
        return self._back_to_link(link)

    def consent(self, address: LinkAddress, csrf: str | None) -> Reply:
        """ "Link accounts": fetch the chosen accounts' numbers, then link them."""
        return self._run(lambda: self._consent(address, csrf))

    def _consent(self, address: LinkAddress, csrf: str | None) -> Reply:
        link, flow = self._posted(address, csrf)
        shared = self._shared(flow)
        if flow.step != FlowStep.consent or shared is None:
            return self._back_to_link(link)
        lifecycle = Lifecycle(self.db, link.scope, self.context)
        permissions = list(link.session.permissions)
        wanted = [
            b
            for b in connect.chosen_accounts(link.session, shared)
            if wants_number(lifecycle, None, permissions, b)
        ]
        try:
            numbers = fetch_numbers(self._connector(link), shared.grant, wanted)
        except ConnectorError as error:
            return self._bank_failed(link, flow, error)
        flow.step = FlowStep.landing
        flow.sealed = None
        connect.link_accounts(
            self.db,
            link,
            runtime=self.runtime,
            context=self.context,
            shared=shared,
            numbers=numbers,
        )
        return self._done(link)

    def _shared(self, flow: HostedFlow | None) -> Shared | None:
        if flow is None or flow.sealed is None:
            return None
        return Shared.from_dict(self._open(flow.sealed))

    def _discard_shared(self, link: HostedLink, flow: HostedFlow) -> None:
        """A link session given up after authenticating: end the consent it got."""
        shared = self._shared(flow)
        flow.sealed = None
        if shared is not None and link.institution is not None:
            try:
                connector = connector_for(self.runtime, link.institution, link.scope, psu=self.psu)
            except ConnectorUnavailable:
                return
            self._discard(connector, shared.grant)

    # ------------------------------------------------------------------ give up
    #
    # Giving up takes two screens: the first screen's POST only opens a confirmation
    # page; the second's carries a one-time token that only that page has. A machine
    # replaying the first screen's forms with their tokens cancels nothing.

    def ask_to_give_up(self, address: LinkAddress, csrf: str | None) -> Reply:
        """ "Not now, cancel this request": the confirmation page, nothing else."""
        return self._run(lambda: self._ask_to_give_up(address, csrf))

    def _ask_to_give_up(self, address: LinkAddress, csrf: str | None) -> Reply:
        link, _ = self._posted(address, csrf)
        links.ask_confirmation(self.db, link, Confirming.cancel)
        return Reply(redirect_to=self.link_url(link) + "/cancel")

    def confirm_give_up(self, address: LinkAddress) -> Reply:
        """The confirmation page (GET: changes nothing)."""
        return self._confirmation(address, Confirming.cancel, "confirm_cancel", "/cancel")

    def give_up(self, address: LinkAddress, csrf: str | None, confirmation: str | None) -> Reply:
        return self._run(lambda: self._give_up(address, csrf, confirmation))

    def _give_up(self, address: LinkAddress, csrf: str | None, confirmation: str | None) -> Reply:
        link, flow = self._posted(address, csrf)
        if not links.take_confirmation(
            self.runtime.csrf_key, link, Confirming.cancel, confirmation
        ):
            return self._back_to_link(link)  # nothing confirmed: nothing changes
        reason: str | None = (
            "no_account" if flow.authenticated_at is not None else "no_authorization"
        )
        if not link.is_relink:
            reason = None  # relink_result (and its failure_reason) is for relink sessions
            self._discard_shared(link, flow)
        flow.step = FlowStep.landing
        flow.sealed = None
        flow.oauth_state_digest = None
        self._service(link).finish(
            link.session,
            SessionStatus.cancelled,
            failure_reason=reason,
            cancelled_reason="other",
        )
        return self._back_to_link(link)

    def _confirmation(
        self, address: LinkAddress, action: Confirming, page: str, path: str
    ) -> Reply:
        link = links.resolve(self.db, address)
        if link is None:
            return Reply(screen=bare("not_found", 404))
        token = links.confirmation_token(self.runtime.csrf_key, link, action)
        if token is None or (action == Confirming.cancel and not links.is_usable(link)):
            return self._back_to_link(link)
        shown = screen(self.db, self.runtime, link, page)
        shown.confirmation = token
        shown.switch_path = link.path + path
        return Reply(screen=shown)

    # ------------------------------------------------------------------ new link
    #
    # "Email me a new link" takes two screens too: a machine that presses the button
    # spends none of the holder's new links.

    def ask_for_new_link(self, address: LinkAddress, csrf: str | None) -> Reply:
        """ "Email me a new link": the confirmation page, nothing else."""
        link = links.resolve(self.db, address, lock=True)
        if link is None:
            return self._unknown(address)
        try:
            verify_csrf(self.runtime.csrf_key, CSRF_PURPOSE, link.digest, csrf)
        except CsrfError:
            return self._note(link, "forbidden")
        links.ask_confirmation(self.db, link, Confirming.new_link)
        return Reply(redirect_to=self.link_url(link) + "/new-link")

    def confirm_new_link(self, address: LinkAddress) -> Reply:
        """The confirmation page (GET: changes nothing)."""
        return self._confirmation(address, Confirming.new_link, "confirm_new_link", "/new-link")

    def request_new_link(
        self, address: LinkAddress, csrf: str | None, confirmation: str | None
    ) -> Reply:
        """The confirmed "Email me a new link": the same answer whether or not one was
        sent (the "check your email" page)."""
        link = links.resolve(self.db, address, lock=True)
        if link is None:
            return self._unknown(address)
        try:
            verify_csrf(self.runtime.csrf_key, CSRF_PURPOSE, link.digest, csrf)
        except CsrfError:
            return self._note(link, "forbidden")
        if not links.take_confirmation(
            self.runtime.csrf_key, link, Confirming.new_link, confirmation
        ):
            return self._back_to_link(link)
        links.request_new_link(self.db, self.runtime, link, self.context)
        return Reply(redirect_to=self.link_url(link) + "/new-link/sent")

    def new_link_sent(self, address: LinkAddress) -> Reply:
        link = links.resolve(self.db, address)
        if link is None:
            return Reply(screen=bare("not_found", 404))
        return Reply(screen=screen(self.db, self.runtime, link, "new_link_requested"))

    # ------------------------------------------------------------------ helpers

    def _bank_failed(self, link: HostedLink, flow: HostedFlow, error: ConnectorError) -> Reply:
        if link.institution is not None:
            record_call_outcome(self.db, link.institution, error, clock.now())
        if isinstance(error, InstitutionDown):
            if link.institution is not None:
                note_bank_unavailable(self.db, link, link.institution)
            flow.step = FlowStep.unavailable
            flow.sealed = None
            flow.oauth_state_digest = None
            return self._back_to_link(link)
        detail: dict[str, object] = {"error": type(error).__name__}
        if error.bank_codes:
            detail["bank_codes"] = list(error.bank_codes)
        return self._fail(link, flow, f"{type(error).__name__}: {error}", detail=detail)

    def _fail(
        self,
        link: HostedLink,
        flow: HostedFlow,
        why: str,
        *,
        detail: dict[str, object] | None = None,
    ) -> Reply:
        """The session fails; ``why`` goes to the log, ``detail`` (no personal data: the
        error's type, the bank's codes) to the session's timeline."""
        log.info("hosted.relink_failed", session=link.session.id, why=why, **(detail or {}))
        flow.step = FlowStep.landing
        flow.sealed = None
        flow.oauth_state_digest = None
        self._service(link).finish(
            link.session, SessionStatus.failed, failure_reason="other", failure_detail=detail
        )
        return self._back_to_link(link)

    @staticmethod
    def _attempts_left(flow: HostedFlow | None) -> int:
        failures = flow.credential_failures if flow is not None else 0
        return max(0, MAX_CREDENTIAL_FAILURES - failures)

    def _connector(self, link: HostedLink) -> Connector:
        assert link.institution is not None
        try:
            return connector_for(self.runtime, link.institution, link.scope, psu=self.psu)
        except ConnectorUnavailable as error:
            flow = link.flow
            assert flow is not None
            raise _Stop(self._fail(link, flow, str(error))) from None

    def _service(self, link: HostedLink) -> SessionService:
        return SessionService(self.db, link.scope, self.runtime, self.context)

    def _timeline(self, link: HostedLink, kind: TimelineKind) -> None:
        if link.session.delivery_method is not None:
            timeline.record(self.db, link.session.id, kind, link.scope.now())

    def _pending_challenge(self, flow: HostedFlow | None) -> Challenge | None:
        if flow is None or flow.sealed is None:
            return None
        data = self._open(flow.sealed).get("challenge")
        return Challenge.from_dict(data) if isinstance(data, dict) else None

    def _seal(self, document: dict[str, object]) -> bytes:
        return self.runtime.secret_box.seal(document)

    def _open(self, sealed: bytes | None) -> dict[str, Any]:
        if sealed is None:
            return {}
        return self.runtime.secret_box.open(sealed)
