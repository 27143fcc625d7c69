from __future__ import annotations

import pytest

from relink.kit.email_address import is_email_address


@pytest.mark.parametrize(
    "address", ["ada@example.com", "ada.lovelace+relink@mail.example.co.uk", "a@b.io"]
)
def test_an_ordinary_address_is_accepted(address: str) -> None:
    assert is_email_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "ada<script>@example.com",
        '"ada"@example.com',
        "ada@example.com, eve@example.com",
        "ada;eve@example.com",
        "ada @example.com",
        "ada@example.com\r\nBcc: eve@example.com",
        "ada@example",
        "ada@@example.com",
        "ada@example..com",
        "@example.com",
        "a" * 310 + "@example.com",
    ],
)
def test_an_address_that_could_name_another_mailbox_or_none_is_refused(address: str) -> None:
    assert not is_email_address(address)
