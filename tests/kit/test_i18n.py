"""Messages built where their numbers are known and worded where they are shown
(relink/kit/i18n.py: M_, Mn_ and worded)."""

from __future__ import annotations

import gettext

from relink.kit.i18n import M_, N_, Mn_, gettext_for, worded


def test_a_plural_message_takes_the_languages_form_for_its_number() -> None:
    german = gettext_for("de")
    one = Mn_("Use at least %(num)d character.", "Use at least %(num)d characters.", 1)
    many = Mn_("Use at least %(num)d character.", "Use at least %(num)d characters.", 12)
    assert worded(many, gettext.NullTranslations()) == "Use at least 12 characters."
    assert worded(one, gettext.NullTranslations()) == "Use at least 1 character."
    assert worded(many, german) == "Verwenden Sie mindestens 12 Zeichen."


def test_a_message_with_values_is_filled_in_after_it_is_translated() -> None:
    message = M_("Enter a number of emails between 1 and %(high)d.", high=20)
    assert worded(message, gettext_for("de")) == (
        "Geben Sie eine Anzahl von E-Mails zwischen 1 und 20 ein."
    )


def test_a_marked_string_is_translated_as_it_is() -> None:
    assert worded(N_("Unknown filter"), gettext_for("de")) == "Unbekannter Filter"
    assert worded("Not in any catalogue", gettext_for("de")) == "Not in any catalogue"
