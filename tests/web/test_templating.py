from __future__ import annotations

import datetime as dt

from relink.web.templating import environment, render

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
    template = environment().from_string("{{ when|date(locale) }}")

    text = template.render(when=dt.datetime(2026, 3, 12, tzinfo=dt.UTC), locale="de")

    assert text == "12. März 2026"
