from __future__ import annotations

import datetime as dt

from relink.web.templating import render

CONTEXT = {
    "platform": {
        "name": "Acme",
        "color": "#3a5bd9",
        "button_text_color": "#ffffff",
        "support_email": None,
        "logo_cid": None,
    },
    "bank": "Bank",
}


def test_rendering_in_one_locale_does_not_change_the_next_render_in_another() -> None:
    german = render("email/relink_request/subject.txt", CONTEXT, locale="de")
    english = render("email/relink_request/subject.txt", CONTEXT, locale="en")
    german_again = render("email/relink_request/subject.txt", CONTEXT, locale="de")

    assert german.startswith("Handlungsbedarf:")
    assert english.startswith("Action needed:")
    assert german_again == german


def test_date_filter_formats_in_the_render_locale() -> None:
    context = {**CONTEXT, "holder_name": None, "account_name": None, "account_mask": None}
    context |= {"reason": "", "link": "https://x", "subject": "s"}
    context["expires_at"] = dt.datetime(2026, 3, 12, tzinfo=dt.UTC)

    text = render("email/relink_request/body.txt", context, locale="de")

    assert "12. März 2026" in text
