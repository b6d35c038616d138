"""Rendering catalog messages: locale choice, plurals, parameters, right-to-left, fallbacks."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import (
    FSI,
    LRI,
    PDI,
    CatalogError,
    LocalDate,
    LocalDateTime,
    LocalTime,
    Ltr,
    Msg,
    Translator,
    default_locales_dir,
    default_translator,
    resolve_locale,
)

EN_HEADER = "nplurals=2; plural=(n != 1);"
AR_HEADER = (
    "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 "
    ": n%100>=11 ? 4 : 5);"
)
# 06:30 UTC is 09:30 in Bahrain (UTC+3).
MORNING = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


def po_text(language: str, plural_forms: str, entries: dict[str, str | list[str]]) -> str:
    """Return the text of a .po catalog with these entries."""
    lines = [
        'msgid ""',
        'msgstr ""',
        f'"Language: {language}\\n"',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        f'"Plural-Forms: {plural_forms}\\n"',
        "",
    ]
    for key, text in entries.items():
        if isinstance(text, list):
            lines += [f'msgid "{key}"', f'msgid_plural "{key}"']
            lines += [f'msgstr[{index}] "{form}"' for index, form in enumerate(text)]
        else:
            lines += [f'msgid "{key}"', f'msgstr "{text}"']
        lines.append("")
    return "\n".join(lines)


def write_catalogs(
    root: Path, en: dict[str, str | list[str]], ar: dict[str, str | list[str]] | None
) -> Path:
    """Write English (and optionally Arabic) catalogs under root and return root."""
    for language, header, entries in (("en", EN_HEADER, en), ("ar", AR_HEADER, ar)):
        if entries is None:
            continue
        folder = root / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(po_text(language, header, entries), "utf-8")
    return root


@pytest.fixture
def translator() -> Translator:
    """Return a translator over the repository catalogs."""
    return Translator(default_locales_dir(), timezone="Asia/Bahrain")


# --- choosing the locale -------------------------------------------------------------------


def test_the_locale_chosen_in_the_profile_wins_over_telegram() -> None:
    assert resolve_locale("ar", "en-US", "en") == "ar"


def test_telegram_language_code_with_a_region_is_used_without_a_choice() -> None:
    assert resolve_locale(None, "ar-BH", "en") == "ar"
    assert resolve_locale(None, "en-US", "ar") == "en"


def test_unsupported_codes_fall_through_to_the_next_source() -> None:
    assert resolve_locale("fr", "de-DE", "ar") == "ar"
    assert resolve_locale("fr", "AR", "en") == "ar"


def test_without_anything_supported_the_locale_is_english() -> None:
    assert resolve_locale(None, None, "de") == "en"
    assert resolve_locale("", "", "") == "en"


# --- catalog texts and plurals -------------------------------------------------------------


def test_a_message_renders_in_the_users_language(translator: Translator) -> None:
    assert translator.render(Msg("menu.title"), "en") == "What would you like to do?"
    assert translator.render(Msg("menu.title"), "ar") == "ماذا تود أن تفعل؟"


def test_a_plain_string_passes_through_even_if_it_looks_like_a_key(
    translator: Translator,
) -> None:
    assert translator.render("menu.title", "ar") == "menu.title"
    assert translator.render("فرع السيف", "en") == "فرع السيف"


def test_english_plurals_pick_singular_for_one(translator: Translator) -> None:
    assert translator.render(Msg("queue.people_ahead", count=1), "en") == ("1 person ahead of you")
    assert translator.render(Msg("queue.people_ahead", count=2), "en") == ("2 people ahead of you")
    assert translator.render(Msg("queue.people_ahead", count=0), "en") == ("0 people ahead of you")


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "لا توجد تذاكر"),
        (1, "تذكرة واحدة"),
        (2, "تذكرتان"),
        (3, "3 تذاكر"),
        (11, "11 تذكرةً"),
        (100, "100 تذكرة"),
    ],
)
def test_arabic_plurals_use_the_six_cldr_forms(
    translator: Translator, count: int, expected: str
) -> None:
    assert translator.render(Msg("tickets.found", count=count), "ar") == expected


def test_arabic_plural_forms_for_0_1_2_3_11_100_are_all_different(
    translator: Translator,
) -> None:
    rendered = [
        translator.render(Msg("queue.people_ahead", count=n), "ar").replace(str(n), "#")
        for n in (0, 1, 2, 3, 11, 100)
    ]
    assert len(set(rendered)) == 6, rendered


def test_the_text_shortcut_takes_the_plural_count_from_its_parameters(
    translator: Translator,
) -> None:
    assert translator.text("slots.places_left", "en", count=1) == "1 place left"
    assert translator.text("slots.places_left", "ar", count=2) == "بقي مكانان"


def test_counts_are_formatted_with_latin_digits_and_grouping(translator: Translator) -> None:
    assert translator.render(Msg("tickets.found", count=1234), "en") == "1,234 tickets"
    assert translator.render(Msg("tickets.found", count=1234), "ar") == "1,234 تذكرةً"


# --- parameters ------------------------------------------------------------------------------


@pytest.fixture
def probe(tmp_path: Path) -> Translator:
    """Return a translator whose catalogs show one parameter per message."""
    entries: dict[str, str | list[str]] = {"show": "[{value}]", "outer": "<{inner}>"}
    ar_entries: dict[str, str | list[str]] = {"show": "«{value}»", "outer": "({inner})"}
    return Translator(write_catalogs(tmp_path, entries, ar_entries), timezone="Asia/Bahrain")


def show(translator: Translator, value: object, locale: str) -> str:
    """Render one parameter value through the probe catalog."""
    return translator.render(Msg("show", {"value": value}), locale)


def test_ltr_fragments_are_isolated_in_arabic_only(probe: Translator) -> None:
    assert show(probe, Ltr("A-042"), "ar") == f"«{LRI}A-042{PDI}»"
    assert show(probe, Ltr("A-042"), "en") == "[A-042]"


def test_times_are_shown_in_the_company_time_zone_and_isolated_in_arabic(
    probe: Translator,
) -> None:
    assert show(probe, LocalTime(MORNING), "en") == "[09:30]"
    assert show(probe, LocalTime(MORNING), "ar") == f"«{FSI}9:30 ص{PDI}»"


def test_the_time_zone_may_be_given_as_a_zoneinfo(tmp_path: Path) -> None:
    translator = Translator(
        write_catalogs(tmp_path, {"show": "{value}"}, None), timezone=ZoneInfo("UTC")
    )
    assert show(translator, LocalTime(MORNING), "en") == "06:30"


def test_naive_instants_are_read_as_utc(probe: Translator) -> None:
    assert show(probe, LocalTime(MORNING.replace(tzinfo=None)), "en") == "[09:30]"


@pytest.mark.parametrize(
    ("style", "english", "arabic"),
    [
        ("weekday", "Tue 1 Dec", "الثلاثاء، 1 ديسمبر"),
        ("long", "1 December 2026", "1 ديسمبر 2026"),
        ("medium", "1 Dec 2026", "01\u200f/12\u200f/2026"),
        ("short", "01/12/2026", "1\u200f/12\u200f/2026"),
    ],
)
def test_dates_follow_the_locale_and_the_style(
    probe: Translator, style: str, english: str, arabic: str
) -> None:
    day = date(2026, 12, 1)
    assert show(probe, LocalDate(day, style), "en") == f"[{english}]"
    assert show(probe, LocalDate(day, style), "ar") == f"«{arabic}»"


def test_an_unknown_date_style_falls_back_to_medium(probe: Translator) -> None:
    assert show(probe, LocalDate(date(2026, 12, 1), "fancy"), "en") == "[1 Dec 2026]"


def test_date_of_an_instant_is_the_company_date(probe: Translator) -> None:
    late_evening_utc = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 01:30 on 1 Dec in Bahrain
    assert show(probe, LocalDate(late_evening_utc, "weekday"), "en") == "[Tue 1 Dec]"


def test_date_and_time_are_joined_the_locale_way(probe: Translator) -> None:
    assert show(probe, LocalDateTime(MORNING), "en") == "[1 Dec 2026, 09:30]"
    assert show(probe, LocalDateTime(MORNING), "ar") == (
        f"«01\u200f/12\u200f/2026، {FSI}9:30 ص{PDI}»"
    )


def test_plain_strings_and_numbers_are_shown_as_such(probe: Translator) -> None:
    assert show(probe, "Seef Mall", "ar") == "«Seef Mall»"
    assert show(probe, 25000, "en") == "[25,000]"


def test_a_nested_message_is_rendered_in_the_same_locale(probe: Translator) -> None:
    nested = Msg("outer", {"inner": Msg("show", {"value": Ltr("B-7")})})
    assert probe.render(nested, "ar") == f"(«{LRI}B-7{PDI}»)"
    assert probe.render(nested, "en") == "<[B-7]>"


# --- failures never crash ---------------------------------------------------------------------


def test_a_key_missing_in_arabic_falls_back_to_english_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    translator = Translator(write_catalogs(tmp_path, {"only.en": "Hello {name}"}, {}))
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        text = translator.render(Msg("only.en", {"name": Ltr("X")}), "ar")
    # The whole sentence is English, so the LTR fragment needs no isolates.
    assert text == "Hello X"
    assert "only.en" in caplog.text
    assert "ar" in caplog.text


def test_an_untranslated_arabic_plural_falls_back_to_english(tmp_path: Path) -> None:
    translator = Translator(
        write_catalogs(
            tmp_path,
            {"n.items": ["{count} item", "{count} items"]},
            {"n.items": ["", "", "", "", "", ""]},
        )
    )
    assert translator.render(Msg("n.items", count=3), "ar") == "3 items"
    assert "n.items" not in translator.keys("ar")


def test_a_key_missing_everywhere_shows_the_key(
    translator: Translator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        assert translator.render(Msg("no.such.key"), "ar") == "no.such.key"
    assert "no.such.key" in caplog.text


def test_a_missing_placeholder_is_left_visible_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    translator = Translator(write_catalogs(tmp_path, {"greet": "Hi {name}, {{ok}}"}, None))
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        assert translator.render(Msg("greet"), "en") == "Hi {name}, {ok}"
    assert "{name}" in caplog.text


def test_a_malformed_catalog_text_is_shown_as_is(tmp_path: Path) -> None:
    translator = Translator(write_catalogs(tmp_path, {"broken": "Hi {name"}, None))
    assert translator.render(Msg("broken", {"name": "Ali"}), "en") == "Hi {name"


def test_a_number_format_spec_in_a_catalog_text_does_not_crash(tmp_path: Path) -> None:
    translator = Translator(write_catalogs(tmp_path, {"n": "{count:,d} / {name:>4}"}, None))
    assert translator.text("n", "en", count=1200, name="ab") == "1,200 /   ab"


def test_a_plural_message_without_a_count_shows_its_key(tmp_path: Path) -> None:
    translator = Translator(write_catalogs(tmp_path, {"n.items": ["one", "many"]}, None))
    assert translator.render(Msg("n.items"), "en") == "n.items"


def test_an_unsupported_locale_renders_english(translator: Translator) -> None:
    assert translator.render(Msg("common.yes"), "fr") == "Yes"
    assert translator.render(Msg("common.yes"), "ar-BH") == "نعم"


def test_a_missing_arabic_catalog_means_english_everywhere(tmp_path: Path) -> None:
    translator = Translator(write_catalogs(tmp_path, {"common.yes": "Yes"}, None))
    assert translator.render(Msg("common.yes"), "ar") == "Yes"
    assert translator.keys("ar") == set()


def test_a_missing_english_catalog_is_an_error_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="en"):
        Translator(tmp_path)


# --- the shared translator --------------------------------------------------------------------


def test_the_default_translator_is_shared_and_reads_the_repository_catalogs() -> None:
    assert default_translator() is default_translator()
    assert "menu.title" in default_translator().keys("ar")


def test_arabic_is_right_to_left_and_english_is_not(translator: Translator) -> None:
    assert translator.is_rtl("ar")
    assert translator.is_rtl("ar-BH")
    assert not translator.is_rtl("en")
