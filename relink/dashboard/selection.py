"""The Accounts list's selection that survives paging: the accounts a team user ticked,
kept on the server (one row each) so it works without JavaScript.

A selection belongs to one user in one platform and mode: every query starts from the
scope and the user, and only accounts of the scope can be added. It holds at most
:data:`MAX_SELECTED` accounts (more is a job for "Select all matching this filter"); it
is emptied when a relink request for it is queued, or by "Clear selection".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from relink.accounts.repository import AccountRepository
from relink.dashboard.relink_requests import MAX_CHECKED
from relink.models import Account, SelectedAccount
from relink.tenancy import Scope, in_scope

MAX_SELECTED = MAX_CHECKED


class AccountSelection:
    """One user's selection in one scope."""

    def __init__(self, db: Session, scope: Scope, user_id: str) -> None:
        self.db = db
        self.scope = scope
        self.user_id = user_id

    def _rows(self) -> Select[Any]:
        return select(SelectedAccount.account_id).where(
            in_scope(SelectedAccount, self.scope), SelectedAccount.user_id == self.user_id
        )

    def ids(self) -> list[str]:
        """The selected accounts' ids, at most :data:`MAX_SELECTED`."""
        return list(
            self.db.scalars(
                self._rows().order_by(SelectedAccount.account_id.desc()).limit(MAX_SELECTED)
            )
        )

    def count(self) -> int:
        return int(self.db.scalar(select(func.count()).select_from(self._rows().subquery())) or 0)

    def among(self, account_ids: list[str]) -> set[str]:
        """Which of ``account_ids`` (a page's) are selected."""
        if not account_ids:
            return set()
        return set(self.db.scalars(self._rows().where(SelectedAccount.account_id.in_(account_ids))))

    def update_page(self, shown: list[str], ticked: list[str]) -> int:
        """Make the selection match one page's boxes: of the ``shown`` accounts, the
        ``ticked`` ones are selected and the others not. Returns how many ticked accounts
        were not added because the selection is full."""
        ticked_set = set(ticked)
        unticked = [account_id for account_id in shown if account_id not in ticked_set]
        if unticked:
            self.db.execute(
                delete(SelectedAccount).where(
                    in_scope(SelectedAccount, self.scope),
                    SelectedAccount.user_id == self.user_id,
                    SelectedAccount.account_id.in_(unticked),
                )
            )
        if not ticked_set:
            return 0
        already = self.among(list(ticked_set))
        candidates = list(
            self.db.scalars(
                AccountRepository(self.db, self.scope)
                .select()
                .with_only_columns(Account.id)
                .where(Account.id.in_(sorted(ticked_set - already)))
                .order_by(Account.id.desc())
            )
        )
        room = max(MAX_SELECTED - self.count(), 0)
        now = self.scope.now()
        for account_id in candidates[:room]:
            self.db.add(
                SelectedAccount(
                    user_id=self.user_id,
                    account_id=account_id,
                    platform_id=self.scope.platform_id,
                    livemode=self.scope.livemode,
                    selected_at=now,
                )
            )
        self.db.flush()
        return max(len(candidates) - room, 0)

    def clear(self) -> None:
        self.db.execute(
            delete(SelectedAccount).where(
                in_scope(SelectedAccount, self.scope), SelectedAccount.user_id == self.user_id
            )
        )
