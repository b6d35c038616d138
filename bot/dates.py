"""Own reading dates that users type ("tomorrow", "15/12", "بكرة") and listing upcoming days.

How a text is read, in order:

1. Normalize: trim, lowercase, drop bidi marks, Arabic diacritics and tatweel, turn Arabic-Indic
   digits into ASCII, fold Arabic letter variants (أ/إ/آ -> ا, ة -> ه, ى -> ي).
2. Rewrite known Arabic date words, standard and colloquial (بكرة, بعد بكرة, الأحد الجاي,
   كانون الأول, ...), and common English misspellings into canonical English words. dateparser's
   Arabic data lacks most of them, and English is always one of the parser's languages.
3. A purely numeric day/month[/year] ("15/12", "15.12", "15-12-2026") is read here, day first:
   dateparser would read "15.12" as a time of day.
4. Anything else must contain a date word (weekday, month, today/tomorrow/yesterday, day(s));
   dateparser is lenient and turns noise such as "a", "one" or "10:30" into dates. The result
   must name a day and a month (a bare "12" or "December" is not a date).
5. A day and month without a year mean the next such date: today or later this year, else next
   year.

Anything else gives ``None``: asking again is better than booking a wrong day.

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from dateparser.data import languages_info
from dateparser.date import DateDataParser

logger = logging.getLogger(__name__)

# Longer texts are not a date answer; this also bounds dateparser's work on pasted text.
_MAX_TEXT_LENGTH = 64

_DIGITS = {ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")} | {
    ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")
}
_STRIPPED = "".join(
    [
        "\u0640",  # tatweel
        "".join(chr(c) for c in range(0x064B, 0x0660)),  # harakat, tanween, shadda, sukun
        "\u0670",  # superscript alef
        "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",  # bidi
    ]
)
_ONE_TO_ONE = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ى": "ي",
        "،": ",",
        "؍": "/",  # Arabic date separator
        "٫": ".",  # Arabic decimal separator, typed by some keyboards between day and month
        "؟": "?",
    }
)

_SUNDAY, _MONDAY, _TUESDAY, _WEDNESDAY = "sunday", "monday", "tuesday", "wednesday"
_THURSDAY, _FRIDAY, _SATURDAY = "thursday", "friday", "saturday"
_WEEKDAYS = (_MONDAY, _TUESDAY, _WEDNESDAY, _THURSDAY, _FRIDAY, _SATURDAY, _SUNDAY)

# Spellings as typed (they are folded like the input before matching). Colloquial Gulf,
# Levant and Egyptian words sit next to the standard ones.
_PHRASES: Mapping[str, tuple[str, ...]] = {
    "day after tomorrow": (
        "بعد غد",
        "بعد الغد",
        "بعد غدا",
        "بعد بكرة",
        "بعد بكره",
        "بعد بكرا",
        "بعد باكر",
        "بعد باجر",
        "بعد باچر",
    ),
    "tomorrow": (
        "غدا",
        "غد",
        "الغد",
        "بكرة",
        "بكره",
        "بكرا",
        "باكر",
        "باجر",
        "باچر",
        "tmrw",
        "tmr",
        "tmrow",
        "tomorow",
        "tommorow",
        "tommorrow",
        "2morrow",
        "2moro",
    ),
    "today": ("اليوم", "هاليوم", "النهارده", "النهاردة", "tdy"),
    "yesterday": ("أمس", "الأمس", "امبارح", "مبارح", "البارحة"),
    "in 2 days": ("بعد يومين", "خلال يومين"),
    "next": (
        "القادم",
        "القادمة",
        "الجاي",
        "الجاية",
        "اللي جاي",
        "الي جاي",
        "المقبل",
        "المقبلة",
    ),
    _SUNDAY: ("الأحد", "أحد", "الحد"),
    _MONDAY: ("الاثنين", "الإثنين", "اثنين", "الاتنين", "الثنين"),
    _TUESDAY: ("الثلاثاء", "الثلاثا", "ثلاثاء", "الثلاث", "التلات", "التلاتاء"),
    _WEDNESDAY: ("الأربعاء", "الأربعا", "أربعاء", "الأربع", "الاربعه"),
    _THURSDAY: ("الخميس", "خميس"),
    _FRIDAY: ("الجمعة", "جمعة"),
    _SATURDAY: ("السبت", "سبت"),
    "january": ("يناير", "كانون الثاني"),
    "february": ("فبراير", "شباط"),
    "march": ("مارس", "آذار"),
    "april": ("أبريل", "إبريل", "نيسان"),
    "may": ("مايو", "أيار"),
    "june": ("يونيو", "يونيه", "حزيران"),
    "july": ("يوليو", "يوليه", "تموز"),
    "august": ("أغسطس", "آب"),
    "september": ("سبتمبر", "أيلول"),
    "october": ("أكتوبر", "تشرين الأول"),
    "november": ("نوفمبر", "تشرين الثاني"),
    "december": ("ديسمبر", "كانون الأول"),
}

_RELATIVE_WORDS = frozenset({"today", "tomorrow", "yesterday", "day", "days"})
# Abbreviations dateparser knows beyond the ones Babel lists.
_EXTRA_DATE_WORDS = frozenset({"sept", "tues", "thur", "thurs", "weds"})

_NUMERIC_DM = re.compile(r"(\d{1,2})\s*([./-])\s*(\d{1,2})(?:\s*\2\s*(\d{4}|\d{2}))?")
_NUMERIC_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_LETTERS = re.compile(r"[^\W\d_]+")
_TRAILING_PUNCTUATION = " \t\n.,!?;:"


def _fold(text: str) -> str:
    """Normalize characters: digits, diacritics, bidi marks and Arabic letter variants."""
    text = text.translate(_DIGITS).translate(str.maketrans("", "", _STRIPPED))
    return text.translate(_ONE_TO_ONE).casefold()


@functools.cache
def _phrase_rewriter() -> tuple[re.Pattern[str], dict[str, str]]:
    """Compile the table of known date phrases into one longest-first pattern."""
    replacements = {
        _fold(spelling): canonical
        for canonical, spellings in _PHRASES.items()
        for spelling in spellings
    }
    alternatives = sorted(replacements, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, alternatives)) + r")(?!\w)")
    return pattern, replacements


_WEEKDAY_GROUP = "(" + "|".join(_WEEKDAYS) + ")"
# "يوم الأحد" ("the day Sunday") is just "Sunday".
_DAY_BEFORE_WEEKDAY = re.compile(r"(?<!\w)يوم\s+(?=" + _WEEKDAY_GROUP + r"(?!\w))")
# "بعد 3 أيام" / "خلال 3 يوم" ("after / within 3 days").
_IN_DAYS = re.compile(r"(?<!\w)(?:بعد|خلال)\s+(\d{1,3})\s+(?:يوم|ايام|يوما)(?!\w)")
# Arabic puts "next" after the weekday ("الأحد القادم").
_WEEKDAY_THEN_NEXT = re.compile(r"(?<!\w)" + _WEEKDAY_GROUP + r"\s+next(?!\w)")


def normalize_date_text(text: str) -> str:
    """Rewrite a typed date into the canonical form the parser reads best."""
    folded = " ".join(_fold(text).split()).strip(_TRAILING_PUNCTUATION)
    pattern, replacements = _phrase_rewriter()
    rewritten = pattern.sub(lambda match: replacements[match.group(1)], folded)
    rewritten = _IN_DAYS.sub(r"in \1 days", rewritten)
    rewritten = _DAY_BEFORE_WEEKDAY.sub("", rewritten)
    return _WEEKDAY_THEN_NEXT.sub(r"next \1", rewritten)


@functools.cache
def _date_words(languages: tuple[str, ...]) -> frozenset[str]:
    """Return the words that make a text look like a date in these languages."""
    words = set(_RELATIVE_WORDS | _EXTRA_DATE_WORDS)
    for language in languages:
        try:
            locale = Locale.parse(language)
        except (UnknownLocaleError, ValueError):
            continue
        for names in (locale.days, locale.months):
            for context in ("format", "stand-alone"):
                for width in ("wide", "abbreviated"):
                    words.update(_fold(str(name)) for name in names[context][width].values())
    return frozenset(words)


def _languages(locale: str) -> tuple[str, ...]:
    """Return the parser languages: the user's if dateparser knows it, then English."""
    primary = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    known = primary if primary in languages_info.language_order else "en"
    return tuple(dict.fromkeys((known, "en")))


def _next_occurrence(day: int, month: int, today: date) -> date | None:
    """Return the first date with this day and month on or after today."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue  # 29 February outside a leap year
        if candidate >= today:
            return candidate
    return None


def _parse_numeric(text: str, today: date) -> date | None:
    """Read an all-digit date, day first (or ISO year-month-day); None if it is not one."""
    if iso := _NUMERIC_ISO.fullmatch(text):
        year, month, day = (int(part) for part in iso.groups())
        return _valid_date(year, month, day)
    numeric = _NUMERIC_DM.fullmatch(text)
    if numeric is None:
        return None
    day, month = int(numeric.group(1)), int(numeric.group(3))
    year_text = numeric.group(4)
    if year_text is None:
        return _next_occurrence(day, month, today)
    year = int(year_text)
    return _valid_date(year + 2000 if year < 100 else year, month, day)


def _valid_date(year: int, month: int, day: int) -> date | None:
    """Build a date, None when the parts do not form one (31/02)."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _local_now(now: datetime, timezone: ZoneInfo) -> datetime:
    """Return now as naive wall-clock time in the time zone (a naive now already is)."""
    return now.astimezone(timezone).replace(tzinfo=None) if now.tzinfo is not None else now


def _parse_words(
    text: str, languages: tuple[str, ...], local_now: datetime, timezone: ZoneInfo
) -> date | None:
    """Read a worded date with dateparser; None unless it names a day and a month."""
    settings: dict[str, object] = {
        "RELATIVE_BASE": local_now,  # naive wall-clock time in the time zone below
        "PREFER_DATES_FROM": "future",
        "TIMEZONE": timezone.key,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "DMY",
        "PREFER_DAY_OF_MONTH": "first",
    }
    try:
        parser = DateDataParser(languages=list(languages), settings=settings)
        data = parser.get_date_data(text)
    except Exception:  # user text must never break the conversation
        logger.warning("dateparser failed on a user date", exc_info=True)
        return None
    if data.date_obj is None or data.period != "day":
        return None
    # DateData.parts (dateparser >= 1.5) lists what the text itself named.
    parts: tuple[str, ...] = tuple(getattr(data, "parts", ()) or ())
    if "day" not in parts or "month" not in parts:
        return None
    parsed = data.date_obj.date()
    if "year" not in parts:
        return _next_occurrence(parsed.day, parsed.month, local_now.date())
    return parsed


def parse_user_date(text: str, *, locale: str, now: datetime, timezone: ZoneInfo) -> date | None:
    """Read a date the user typed, in their language or English; None if it is not a date."""
    if len(text) > _MAX_TEXT_LENGTH:
        return None
    normalized = normalize_date_text(text)
    if not normalized:
        return None
    local_now = _local_now(now, timezone)
    if normalized[0].isdigit() and normalized[-1].isdigit():
        numeric = _parse_numeric(normalized.replace(" ", ""), local_now.date())
        if numeric is not None or not _LETTERS.search(normalized):
            return numeric
    languages = _languages(locale)
    if not any(word in _date_words(languages) for word in _LETTERS.findall(normalized)):
        return None
    return _parse_words(normalized, languages, local_now, timezone)


def upcoming_days(now: datetime, timezone: ZoneInfo, count: int) -> list[date]:
    """Return today (in the time zone) and the following days, ``count`` dates in all."""
    today = _local_now(now, timezone).date()
    return [today + timedelta(days=offset) for offset in range(max(count, 0))]
