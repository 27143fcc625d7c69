"""What a hosted page makes of a platform's support email and website."""

from __future__ import annotations

import pytest

from relink.hosted.branding import SupportContact, Website, support_contact_of, website_of
from relink.models import Platform


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("https://www.acme.example/", "acme.example"),
        ("http://acme.example/help/", "acme.example/help"),
        ("HTTPS://acme.example:8443/x", "acme.example:8443/x"),
    ],
)
def test_an_http_website_is_linked_and_labelled_without_its_scheme(url: str, label: str) -> None:
    assert website_of(url) == Website(url=url, label=label)


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "javascript:alert(1)",
        "ftp://acme.example",
        "https://",
        "acme.example",
        "https://acme.example/a b",
        "https://acme.example/\nx",
    ],
)
def test_anything_but_an_http_address_with_a_host_is_no_website(url: str | None) -> None:
    assert website_of(url) is None


def test_a_support_email_that_is_not_an_address_is_left_out() -> None:
    platform = Platform(name="Acme", support_email="help<script>@acme.example", website_url=None)
    assert support_contact_of(platform) == SupportContact(email=None, website=None)
