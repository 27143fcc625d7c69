"""Team rules (relink/dashboard/team.py): a platform always keeps an owner."""

from __future__ import annotations

import pytest

from relink.dashboard.team import TeamChangeRefused, remove_member
from relink.platforms.service import NewPlatform
from relink.runtime import Runtime


def test_the_last_owner_cannot_be_removed_even_by_another_user(
    runtime: Runtime, platform: NewPlatform
) -> None:
    with pytest.raises(TeamChangeRefused), runtime.database.unit_of_work() as db:
        remove_member(db, platform.platform.id, "user_someone_else", platform.owner.id)
