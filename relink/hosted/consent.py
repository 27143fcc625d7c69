"""The holder's consent page (docs/consent.md): their connections with one platform, and
**Revoke** on a second screen.

The page is reached from a signed, expiring link, ``/consent/{token}``: the token names
the platform, the mode, the holder and when it stops working, under a MAC with a
server-held key, so nothing about it is stored and a changed or expired token opens
nothing. Its forms carry a CSRF token bound to the link. Revoking takes two screens, as
giving up a request does (docs/links.md): the list's "Revoke" button only opens the
confirmation page, whose own form carries a token only that page has; a machine replaying
the list's forms revokes nothing.

A revocation disconnects the authorization's accounts through the lifecycle (so the
platform gets ``financial_connections.account.disconnected`` as for a disconnect through
the API), records ``revoked`` by the holder in the consent history, and ends the consent
at the bank through the connector, in the worker once this commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from relink.accounts.repository import AccountRepository
from relink.authorizations.consent import ConsentHistory
from relink.authorizations.consent_links import PATH, ConsentHolder, authentic_token, read_token
from relink.authorizations.repository import AuthorizationRepository
from relink.connect_accounts.repository import ConnectedAccountRepository
from relink.customers.repository import CustomerRepository
from relink.email.consent_receipt import queue_consent_link
from relink.hosted.flow import Reply
from relink.hosted.screens import PERMISSION_ORDER, Connection, MaskedAccount, Screen
from relink.institutions.repository import InstitutionRepository
from relink.kit import clock
from relink.kit.crypto import constant_time_equals, token_digest
from relink.kit.provenance import EventContext
from relink.lifecycle.service import Lifecycle
from relink.models import (
    Authorization,
    ConnectedAccount,
    ConnectionStatus,
    ConsentActor,
    ConsentKind,
    Customer,
    HolderType,
    Platform,
)
from relink.runtime import Runtime
from relink.tenancy import Scope, load_platform_scope
from relink.web.csrf import csrf_token

CSRF_PURPOSE = "holder-consent"
CONFIRM_PURPOSE = "holder-consent-revoke"


class HolderConsentService:
    """The consent page's steps, in the request's transaction."""

    def __init__(self, db: DbSession, runtime: Runtime, context: EventContext) -> None:
        self.db = db
        self.runtime = runtime
        self.context = context

    # -- pages ---------------------------------------------------------------------------

    def show(self, token: str) -> Reply:
        holder = self._holder(token)
        if holder is not None:
            return Reply(screen=self._screen(token, holder, "consent"))
        expired = self._expired(token)
        if expired is None:
            return Reply(screen=Screen(page="not_found", status_code=404))
        return Reply(
            screen=self._screen(
                token, expired, "consent_expired", status_code=410, connections=False
            )
        )

    def new_link_sent(self, token: str) -> Reply:
        """ "Check your email": the same page whether or not an email went out."""
        holder = self._expired(token)
        if holder is None:
            return Reply(screen=Screen(page="not_found", status_code=404))
        return Reply(screen=self._screen(token, holder, "consent_link_sent", connections=False))

    def ask_for_new_link(self, token: str, csrf: str | None) -> Reply:
        """An expired link's "Email me a new link": sent to the address on file, once
        per expired link (a machine pressing it again sends nothing more)."""
        holder = self._expired(token)
        if holder is None or not self._csrf_ok(token, csrf):
            return Reply(redirect_to=self._path(token))
        row = self._holder_row(holder)
        if row is not None and row.email:
            queue_consent_link(
                self.db, self._scope(holder), holder.holder_type, holder.holder_id, token
            )
        return Reply(redirect_to=f"{self._path(token)}/new-link")

    def confirm_revoke(self, token: str, authorization_id: str) -> Reply:
        holder = self._holder(token)
        if holder is None:
            return Reply(screen=Screen(page="not_found", status_code=404))
        authorization = self._revocable(holder, authorization_id)
        if authorization is None:
            return Reply(redirect_to=self._path(token))
        screen = self._screen(token, holder, "consent_confirm_revoke")
        screen.connection = next(
            c for c in screen.connections if c.authorization_id == authorization.id
        )
        screen.confirmation = self._confirmation(token, authorization.id)
        return Reply(screen=screen)

    # -- forms ---------------------------------------------------------------------------

    def ask_to_revoke(self, token: str, csrf: str | None, authorization_id: str) -> Reply:
        """The list's "Revoke": only opens the confirmation page."""
        holder = self._holder(token)
        if holder is None or not self._csrf_ok(token, csrf):
            return Reply(redirect_to=self._path(token))
        if self._revocable(holder, authorization_id) is None:
            return Reply(redirect_to=self._path(token))
        return Reply(redirect_to=f"{self._path(token)}/revoke/{authorization_id}")

    def revoke(
        self, token: str, csrf: str | None, authorization_id: str, confirmation: str | None
    ) -> Reply:
        """The confirmation page's "Yes, revoke": disconnect the accounts, end the consent."""
        back = Reply(redirect_to=self._path(token))
        holder = self._holder(token)
        if holder is None or not self._csrf_ok(token, csrf):
            return back
        expected = self._confirmation(token, authorization_id)
        if not confirmation or not constant_time_equals(confirmation, expected):
            return back
        authorization = self._revocable(holder, authorization_id)
        if authorization is None:
            return back
        scope = self._scope(holder)
        lifecycle = Lifecycle(self.db, scope, self.context)
        for account in lifecycle.accounts.of_authorization(authorization.id):
            lifecycle.disconnect(account, actor=ConsentActor.holder)
        return back

    # -- helpers -------------------------------------------------------------------------

    def _path(self, token: str) -> str:
        return f"{PATH}/{token}"

    def _holder(self, token: str) -> ConsentHolder | None:
        holder = read_token(self.runtime, token, now=clock.now())
        if holder is None or self._holder_row(holder) is None:
            return None
        return holder

    def _expired(self, token: str) -> ConsentHolder | None:
        """The holder of a link Relink made that has expired (their row still exists)."""
        holder = authentic_token(self.runtime, token)
        if holder is None or holder.expires_at > clock.now() or self._holder_row(holder) is None:
            return None
        return holder

    def _holder_row(self, holder: ConsentHolder) -> Customer | ConnectedAccount | None:
        scope = self._scope(holder)
        if holder.holder_type == HolderType.customer:
            customer = CustomerRepository(self.db, scope).find(holder.holder_id)
            return customer if customer is not None and not customer.deleted else None
        return ConnectedAccountRepository(self.db, scope).find(holder.holder_id)

    def _scope(self, holder: ConsentHolder) -> Scope:
        return load_platform_scope(self.db, holder.platform_id, holder.livemode)

    def _csrf_ok(self, token: str, csrf: str | None) -> bool:
        expected = csrf_token(self.runtime.csrf_key, CSRF_PURPOSE, token_digest(token))
        return bool(csrf) and constant_time_equals(str(csrf), expected)

    def _confirmation(self, token: str, authorization_id: str) -> str:
        binding = f"{token_digest(token)}:{authorization_id}"
        return csrf_token(self.runtime.csrf_key, CONFIRM_PURPOSE, binding)

    def _authorizations(self, holder: ConsentHolder) -> list[Authorization]:
        repository = AuthorizationRepository(self.db, self._scope(holder))
        column = (
            Authorization.customer_id
            if holder.holder_type == HolderType.customer
            else Authorization.connected_account_id
        )
        return list(
            self.db.scalars(
                repository.select()
                .where(column == holder.holder_id)
                .order_by(Authorization.id.desc())
            )
        )

    def _revocable(self, holder: ConsentHolder, authorization_id: str) -> Authorization | None:
        """The holder's authorization of that id, while its consent has not ended."""
        return next(
            (
                a
                for a in self._authorizations(holder)
                if a.id == authorization_id and a.status != ConnectionStatus.disconnected
            ),
            None,
        )

    def _connections(self, holder: ConsentHolder) -> list[Connection]:
        scope = self._scope(holder)
        authorizations = self._authorizations(holder)
        accounts = AccountRepository(self.db, scope)
        institutions = InstitutionRepository(self.db, scope.livemode)
        history = ConsentHistory(self.db, scope).of_authorizations([a.id for a in authorizations])
        connections = []
        for authorization in authorizations:
            shared = accounts.of_authorization(authorization.id)
            permissions = {p for account in shared for p in account.permissions}
            entries = history.get(authorization.id, [])
            institution = institutions.find(authorization.institution_id)
            revoked = [e.at for e in entries if e.kind == ConsentKind.revoked]
            connections.append(
                Connection(
                    authorization_id=authorization.id,
                    bank_name=institution.name if institution is not None else "",
                    accounts=[MaskedAccount(a.display_name, a.last4) for a in shared],
                    permissions=[p for p in PERMISSION_ORDER if p in permissions],
                    status=authorization.status,
                    granted_at=entries[0].at if entries else authorization.created_at,
                    valid_until=authorization.expected_deactivation_at,
                    revoked_at=revoked[-1]
                    if revoked and authorization.status == ConnectionStatus.disconnected
                    else None,
                )
            )
        return connections

    def _screen(
        self,
        token: str,
        holder: ConsentHolder,
        page: str,
        *,
        status_code: int = 200,
        connections: bool = True,
    ) -> Screen:
        platform = self.db.get(Platform, holder.platform_id)
        assert platform is not None  # the holder row exists, so does its platform
        row = self._holder_row(holder)
        return Screen(
            page=page,
            status_code=status_code,
            token=token,
            csrf=csrf_token(self.runtime.csrf_key, CSRF_PURPOSE, token_digest(token)),
            platform_name=platform.name,
            brand_color=platform.brand_color,
            livemode=holder.livemode,
            default_locale=platform.default_locale,
            preferred_locales=row.preferred_locales if row is not None else [],
            connections=self._connections(holder) if connections else [],
            switch_path=self._path(token),
        )
