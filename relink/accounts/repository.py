from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from relink.models import Account, AccountNumber
from relink.tenancy import ScopedRepository, in_scope


class AccountRepository(ScopedRepository[Account]):
    model = Account
    object_name = "financial_connections.account"

    def account_numbers(self, account_ids: list[str]) -> dict[str, list[AccountNumber]]:
        """Account numbers of several accounts in one query, oldest first."""
        grouped: dict[str, list[AccountNumber]] = defaultdict(list)
        if not account_ids:
            return grouped
        rows = self.session.scalars(
            select(AccountNumber)
            .where(
                in_scope(AccountNumber, self.scope),
                AccountNumber.account_id.in_(account_ids),
            )
            .order_by(AccountNumber.id)
        )
        for row in rows:
            grouped[row.account_id].append(row)
        return grouped

    def of_authorization(self, authorization_id: str) -> list[Account]:
        return list(
            self.session.scalars(
                self.select()
                .where(Account.authorization_id == authorization_id)
                .order_by(Account.id)
            )
        )
