"""The message catalogs in locales/ agree with each other and with CLDR plural rules."""

from __future__ import annotations

import gettext
import re
import string

import pytest
from babel import Locale
from babel.messages.catalog import Catalog

from bot.i18n import (
    SUPPORTED_LOCALES,
    Translator,
    catalog_path,
    default_locales_dir,
    placeholders,
    read_catalog,
)

CLDR_ORDER = ("zero", "one", "two", "few", "many")

STARTER_KEYS = {
    "common.back",
    "common.cancel",
    "common.next",
    "common.prev",
    "common.main_menu",
    "common.refresh",
    "common.try_again",
    "common.yes",
    "common.no",
    "menu.title",
    "menu.book",
    "menu.tickets",
    "menu.language",
    "menu.help",
    "help.text",
    "language.choose",
    "language.changed",
    "language.name.en",
    "language.name.ar",
    "errors.generic",
    "errors.unavailable",
    "errors.busy",
    "errors.stale_button",
    "errors.use_buttons",
    "queue.people_ahead",
    "queue.wait_minutes",
    "slots.places_left",
    "tickets.found",
    "command.start",
    "command.book",
    "command.tickets",
    "command.language",
    "command.help",
}
PLURAL_KEYS = {
    "queue.people_ahead",
    "queue.wait_minutes",
    "slots.places_left",
    "tickets.found",
    "tickets.list_title",
}


def load(locale: str) -> Catalog:
    """Parse the repository catalog of a locale."""
    return read_catalog(catalog_path(default_locales_dir(), locale), locale)


def texts_by_key(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Return every message of a catalog as key -> its forms."""
    result: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        key = str(message.id[0] if message.pluralizable else message.id)
        forms = message.string
        result[key] = tuple(forms) if isinstance(forms, tuple | list) else (str(forms or ""),)
    return result


CATALOGS = {locale: load(locale) for locale in SUPPORTED_LOCALES}
TEXTS = {locale: texts_by_key(catalog) for locale, catalog in CATALOGS.items()}


def test_every_locale_has_the_same_keys_as_english() -> None:
    for locale in SUPPORTED_LOCALES:
        assert set(TEXTS[locale]) == set(TEXTS["en"]), locale


def test_the_starter_keys_exist() -> None:
    assert set(TEXTS["en"]) >= STARTER_KEYS


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_key_uses_the_same_placeholders_as_english(locale: str) -> None:
    def used(forms: tuple[str, ...]) -> frozenset[str]:
        # Arabic spells small counts out ("تذكرتان"), so a form may omit {count}; the
        # placeholders of all forms together must match.
        return frozenset().union(*(placeholders(form) for form in forms))

    mismatched = {
        key: (sorted(used(forms)), sorted(used(TEXTS["en"][key])))
        for key, forms in TEXTS[locale].items()
        if key in TEXTS["en"] and used(forms) != used(TEXTS["en"][key])
    }
    assert mismatched == {}


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_text_is_filled_in_and_well_formed(locale: str) -> None:
    for key, forms in TEXTS[locale].items():
        for form in forms:
            assert form.strip(), f"{locale}: {key} has an empty form"
            list(string.Formatter().parse(form))  # raises on an unbalanced brace
            assert all(name.isidentifier() for name in placeholders(form)), key
    assert not [message.id for message in CATALOGS[locale] if message.fuzzy and message.id]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_plural_messages_have_one_form_per_plural_category(locale: str) -> None:
    catalog = CATALOGS[locale]
    plurals = {message.id[0]: message for message in catalog if message.id and message.pluralizable}
    assert set(plurals) == PLURAL_KEYS
    for key, message in plurals.items():
        assert message.id[1] == key, "msgid_plural repeats the key"
        assert isinstance(message.string, tuple)
        assert len(message.string) == catalog.num_plurals, key


@pytest.mark.parametrize(("locale", "forms"), [("en", 2), ("ar", 6)])
def test_plural_forms_header_follows_cldr(locale: str, forms: int) -> None:
    catalog = CATALOGS[locale]
    rule = Locale.parse(locale).plural_form
    order = [tag for tag in CLDR_ORDER if tag in rule.tags] + ["other"]
    choose = gettext.c2py(catalog.plural_expr)

    assert catalog.num_plurals == forms == len(order)
    wrong = [n for n in range(0, 1200) if order[choose(n)] != rule(n)]
    assert wrong == []


def test_arabic_plural_messages_have_six_distinct_forms() -> None:
    for key in PLURAL_KEYS:
        assert len(set(TEXTS["ar"][key])) == 6, key


def test_every_catalog_message_is_usable_after_compiling() -> None:
    translator = Translator(default_locales_dir())
    for locale in SUPPORTED_LOCALES:
        assert translator.keys(locale) == set(TEXTS[locale])


def test_commands_in_right_to_left_texts_are_isolated() -> None:
    """A bare "/start" in Arabic text shows as "start/"; each command sits in an LRI..PDI."""
    bare = re.compile(r"(?<!\u2066)/[a-z]+")
    offenders = {
        key: form
        for key, forms in texts_by_key(load("ar")).items()
        for form in forms
        if bare.search(form)
    }
    assert offenders == {}
