"""The connector interface's data: grants keep their secrets to themselves."""

from __future__ import annotations

from datetime import UTC, datetime

from relink.connectors.base import Challenge, Grant


def test_grant_repr_never_shows_its_secrets() -> None:
    grant = Grant(secrets={"access_token": "sbat_very_secret"})

    assert "sbat_very_secret" not in repr(grant)
    assert "sbat_very_secret" not in str(grant)


def test_grant_serializes_and_deserializes_to_an_equal_grant() -> None:
    grant = Grant(
        secrets={"access_token": "a", "refresh_token": "r"},
        expected_deactivation_date=datetime(2027, 2, 1, tzinfo=UTC),
    )

    assert Grant.deserialize(grant.serialize()) == grant


def test_replacing_secrets_marks_the_grant_rotated_until_persisted() -> None:
    grant = Grant(secrets={"access_token": "a"})

    grant.replace_secrets({"access_token": "b"})
    rotated = grant.rotated
    grant.mark_persisted()

    assert rotated is True
    assert grant.rotated is False
    assert grant.secrets == {"access_token": "b"}


def test_challenge_round_trips_through_a_dict_without_showing_its_continuation() -> None:
    challenge = Challenge(
        kind="options", prompt="Pick", continuation="sblogin_secret", options=("a", "b")
    )

    assert Challenge.from_dict(challenge.to_dict()) == challenge
    assert "sblogin_secret" not in repr(challenge)
