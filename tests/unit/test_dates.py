"""Reading the dates users type, in English and Arabic, against a fixed clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.dates import parse_user_date, upcoming_days

BAHRAIN = ZoneInfo("Asia/Bahrain")
# Monday 30 November 2026, 10:00 in Bahrain.
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=BAHRAIN)


def read(text: str, locale: str = "en", now: datetime = NOW) -> date | None:
    """Parse a text the way the booking flow does."""
    return parse_user_date(text, locale=locale, now=now, timezone=BAHRAIN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2026, 11, 30)),
        ("tomorrow", date(2026, 12, 1)),
        ("  Tomorrow!  ", date(2026, 12, 1)),
        ("tmrw", date(2026, 12, 1)),
        ("day after tomorrow", date(2026, 12, 2)),
        ("in 3 days", date(2026, 12, 3)),
        ("next monday", date(2026, 12, 7)),
        ("Next Monday", date(2026, 12, 7)),
        ("monday", date(2026, 12, 7)),
        ("Friday", date(2026, 12, 4)),
        ("15/12", date(2026, 12, 15)),
        ("15.12", date(2026, 12, 15)),
        ("15-12", date(2026, 12, 15)),
        ("15 / 12", date(2026, 12, 15)),
        ("15/12/2027", date(2027, 12, 15)),
        ("15/12/27", date(2027, 12, 15)),
        ("2026-12-15", date(2026, 12, 15)),
        ("15 Dec", date(2026, 12, 15)),
        ("Dec 15", date(2026, 12, 15)),
        ("15 December 2027", date(2027, 12, 15)),
        ("Tue 15 Dec", date(2026, 12, 15)),
        ("tomorrow 10am", date(2026, 12, 1)),
    ],
)
def test_english_dates_are_read(text: str, expected: date) -> None:
    assert read(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("اليوم", date(2026, 11, 30)),
        ("غدا", date(2026, 12, 1)),
        ("غداً", date(2026, 12, 1)),
        ("بكرة", date(2026, 12, 1)),
        ("بكره", date(2026, 12, 1)),
        ("باجر", date(2026, 12, 1)),
        ("بعد غد", date(2026, 12, 2)),
        ("بعد بكرة", date(2026, 12, 2)),
        ("خلال 3 أيام", date(2026, 12, 3)),
        ("الأحد القادم", date(2026, 12, 6)),
        ("الاحد الجاي", date(2026, 12, 6)),
        ("الخميس الجاية", date(2026, 12, 3)),
        ("يوم الجمعة", date(2026, 12, 4)),
        ("الثلاثاء", date(2026, 12, 1)),
        ("15/12", date(2026, 12, 15)),
        ("١٥/١٢", date(2026, 12, 15)),
        ("\u200f١٥\u200f/١٢", date(2026, 12, 15)),
        ("١٥ ديسمبر", date(2026, 12, 15)),
        ("15 كانون الأول", date(2026, 12, 15)),
        ("tomorrow", date(2026, 12, 1)),
    ],
)
def test_arabic_dates_are_read(text: str, expected: date) -> None:
    assert read(text, "ar") == expected


def test_arabic_words_are_understood_when_the_user_chose_english() -> None:
    assert read("بكرة", "en") == date(2026, 12, 1)


@pytest.mark.parametrize("text", ["20 Nov", "20/11", "1 Jan", "1/1"])
def test_a_day_and_month_that_already_passed_mean_next_year(text: str) -> None:
    result = read(text)
    assert result is not None
    assert result.year == 2027
    assert result > NOW.date()


@pytest.mark.parametrize("text", ["30 Nov", "30/11", "30 نوفمبر"])
def test_todays_day_and_month_mean_today(text: str) -> None:
    assert read(text, "ar") == date(2026, 11, 30)


def test_29_february_without_a_year_means_the_next_leap_day() -> None:
    assert read("29/02", now=datetime(2027, 3, 1, 9, 0, tzinfo=BAHRAIN)) == date(2028, 2, 29)


def test_today_is_the_company_date_not_the_utc_date() -> None:
    late_evening_utc = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 01:30 on 1 Dec in Bahrain
    assert read("today", now=late_evening_utc) == date(2026, 12, 1)
    assert read("tomorrow", now=late_evening_utc) == date(2026, 12, 2)


def test_a_naive_now_is_taken_as_company_time() -> None:
    assert read("tomorrow", now=datetime(2026, 11, 30, 23, 59)) == date(2026, 12, 1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "1234567",
        "?",
        "🙂",
        "12",
        "the 15th",
        "a",
        "one",
        "may",
        "December",
        "next week",
        "10:30",
        "3pm",
        "noon",
        "31/02",
        "29/02",
        "99/99",
        "1 2",
        "15/12 please call me",
        "مرحبا",
        "نعم",
        "١٢٣٤٥٦٧",
        "الأسبوع القادم",
        "tomorrow " * 20,
    ],
)
def test_texts_that_are_not_a_date_give_none(text: str) -> None:
    assert read(text, "en") is None
    assert read(text, "ar") is None


def test_an_unknown_user_language_still_reads_english() -> None:
    assert read("tomorrow", "xx") == date(2026, 12, 1)


def test_upcoming_days_start_today_in_the_company_time_zone() -> None:
    assert upcoming_days(NOW, BAHRAIN, 3) == [
        date(2026, 11, 30),
        date(2026, 12, 1),
        date(2026, 12, 2),
    ]
    late_evening_utc = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    assert upcoming_days(late_evening_utc, BAHRAIN, 1) == [date(2026, 12, 1)]


def test_no_upcoming_days_are_asked_for_a_count_of_zero() -> None:
    assert upcoming_days(NOW, BAHRAIN, 0) == []
