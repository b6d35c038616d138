"""Own message catalogs and locale-aware formatting (Babel + gettext .po files in locales/).

Catalogs are ``locales/<locale>/LC_MESSAGES/messages.po`` (gettext domain ``messages``).
Message ids are symbolic keys ("menu.title"); the English text lives in the English catalog.
The .po files are read at start-up with Babel and compiled to .mo in memory, so no compiled
file is ever committed or goes stale. A plural message uses the same key as ``msgid`` and
``msgid_plural``; ``Msg.count`` selects the form through the catalog's ``Plural-Forms``.

Digits: numbers, dates and times are shown with Latin digits in every locale (Babel's "ar"
locale does so by default and we pin ``numbering_system="latn"``). Latin digits are what Gulf
banking and government apps show, and they keep ticket numbers, times and dates identical to
what the branch screens and SMS print.

Formatting locales: English is formatted as ``en_GB`` (day-first dates, 24-hour "09:30"),
the usage of English in the Gulf; Arabic as Babel's ``ar``.

Right-to-left: in Arabic text, fragments that must not be reordered with their neighbours are
wrapped in Unicode isolates, so the bidi algorithm cannot mix them with the words and
punctuation around them. ``Ltr`` values (ticket numbers, phones) always read left to right and
get a left-to-right isolate (LRI ... PDI). Times get a first-strong isolate (FSI ... PDI): the
digits of "9:30 ص" keep their order either way, and FSI also keeps the day period where an
Arabic reader expects it (after the time, reading right to left); an LRI would show "ص" before
the digits. A time without letters ("09:30") is read left to right under FSI as well.

Must not import Telegram, conversations or the Skiplino client.
"""

from __future__ import annotations

import functools
import gettext
import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

logger = logging.getLogger(__name__)

SUPPORTED_LOCALES = ("en", "ar")
RTL_LOCALES = frozenset({"ar"})
FALLBACK_LOCALE = "en"
DOMAIN = "messages"

# Unicode "left-to-right isolate", "first strong isolate" and "pop directional isolate".
LRI = "\u2066"
FSI = "\u2068"
PDI = "\u2069"

_FORMAT_LOCALES: Mapping[str, str] = {"en": "en_GB", "ar": "ar"}
_DATE_STYLES = frozenset({"short", "medium", "long", "weekday"})
# Depth at which nested messages are assumed to be a cycle rather than a real sentence.
_MAX_NESTING = 8


@dataclass(frozen=True)
class Ltr:
    """A left-to-right fragment (ticket number, phone): wrapped in isolates in RTL text."""

    value: str


@dataclass(frozen=True)
class LocalDate:
    """A calendar date, formatted in the user's locale (e.g. 'Tue, 1 Dec')."""

    value: date
    style: str = "medium"  # "short" | "medium" | "long" | "weekday" (weekday + day + month)


@dataclass(frozen=True)
class LocalTime:
    """An instant, shown as wall-clock time in the company time zone (e.g. '09:30')."""

    value: datetime


@dataclass(frozen=True)
class LocalDateTime:
    """An instant, shown as date and time in the company time zone."""

    value: datetime


Param = "str | int | Ltr | LocalDate | LocalTime | LocalDateTime | Msg"


@dataclass(frozen=True)
class Msg:
    """A catalog message: key, parameters, and an optional count that picks the plural form.

    ``str`` parameters are shown as given (names the API returned in the user's locale).
    When ``count`` is set it is also available to the text as ``{count}``.
    """

    key: str
    params: Mapping[str, object] = field(default_factory=dict)
    count: int | None = None


def _language_of(code: str | None) -> str | None:
    """Return the primary language subtag of a locale code ("ar-BH" -> "ar"), lowercased."""
    if not code:
        return None
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary or None


def resolve_locale(chosen: str | None, telegram_language_code: str | None, default: str) -> str:
    """Pick the locale: profile choice, then Telegram's language code, then the default."""
    for candidate in (chosen, telegram_language_code, default):
        language = _language_of(candidate)
        if language in SUPPORTED_LOCALES:
            return language
    return FALLBACK_LOCALE


def placeholders(template: str) -> frozenset[str]:
    """Return the ``{name}`` placeholders of a catalog text (empty if the text is malformed)."""
    try:
        return frozenset(
            name for _, name, _, _ in string.Formatter().parse(template) if name is not None
        )
    except ValueError:
        return frozenset()


@dataclass(frozen=True)
class _Entry:
    """What the translator needs to know about one catalog message."""

    plural: bool


@dataclass(frozen=True)
class _LoadedCatalog:
    """One locale's compiled translations and the index of its usable keys."""

    translations: gettext.GNUTranslations
    entries: Mapping[str, _Entry]


class CatalogError(Exception):
    """A required catalog is missing or cannot be read."""


def catalog_path(locales_dir: Path, locale: str) -> Path:
    """Return where the .po catalog of a locale lives."""
    return locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path, locale: str) -> Catalog:
    """Parse a .po file with Babel."""
    with path.open("rb") as fileobj:
        catalog: Catalog = read_po(fileobj, locale=locale, domain=DOMAIN)
    return catalog


def _is_complete(message_string: object) -> bool:
    """Tell whether a message has a translation for every form."""
    if isinstance(message_string, tuple | list):
        return bool(message_string) and all(bool(form) for form in message_string)
    return bool(message_string)


def _compile(catalog: Catalog) -> _LoadedCatalog:
    """Compile a parsed catalog to gettext translations in memory."""
    entries: dict[str, _Entry] = {}
    incomplete: list[str | tuple[str, ...] | list[str]] = []
    for message in catalog:
        if not message.id:
            continue  # the header
        key = message.id[0] if message.pluralizable else message.id
        if message.fuzzy or not _is_complete(message.string):
            # Babel would compile an empty form as the key itself; drop the message so the
            # translator falls back to English instead of showing a key.
            incomplete.append(message.id)
            continue
        entries[str(key)] = _Entry(plural=bool(message.pluralizable))
    for message_id in incomplete:
        del catalog[message_id]
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _LoadedCatalog(translations=gettext.GNUTranslations(buffer), entries=entries)


class _SafeFormatter:
    """Fill ``{name}`` placeholders, leaving unknown ones in place instead of failing."""

    def __init__(self, key: str, locale: str) -> None:
        """Remember which message is formatted, for the log."""
        self._key = key
        self._locale = locale

    def format(self, template: str, values: Mapping[str, str]) -> str:
        """Return the template with known placeholders replaced."""
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError:
            logger.warning(
                "malformed placeholders in %r (%s); shown as is", self._key, self._locale
            )
            return template
        out: list[str] = []
        for literal, name, spec, conversion in parsed:
            # Formatter.parse unescapes "{{" and "}}" into the literal text.
            out.append(literal)
            if name is None:
                continue
            if name in values:
                out.append(self._apply_spec(name, values[name], spec or ""))
                continue
            logger.warning(
                "missing placeholder {%s} in %r (%s); left as is", name, self._key, self._locale
            )
            suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            out.append("{" + name + suffix + "}")
        return "".join(out)

    def _apply_spec(self, name: str, value: str, spec: str) -> str:
        """Apply a format spec to an already formatted value, ignoring specs that do not fit."""
        if not spec:
            return value
        try:
            return format(value, spec)
        except ValueError:
            logger.warning("format spec %r of {%s} in %r does not apply", spec, name, self._key)
            return value


class Translator:
    """Render catalog messages into text of a locale."""

    def __init__(
        self, locales_dir: Path | None = None, timezone: str | ZoneInfo = "Asia/Bahrain"
    ) -> None:
        """Load and compile the catalog of every supported locale (English is required)."""
        self._locales_dir = locales_dir if locales_dir is not None else default_locales_dir()
        self._timezone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self._catalogs: dict[str, _LoadedCatalog] = {}
        self._warned: set[tuple[str, str]] = set()
        for locale in SUPPORTED_LOCALES:
            path = catalog_path(self._locales_dir, locale)
            if not path.is_file():
                if locale == FALLBACK_LOCALE:
                    raise CatalogError(f"the {locale} catalog is missing: {path}")
                logger.warning("no catalog for %s at %s; English is used instead", locale, path)
                continue
            self._catalogs[locale] = _compile(read_catalog(path, locale))

    @property
    def timezone(self) -> ZoneInfo:
        """Return the company time zone that times are shown in."""
        return self._timezone

    def keys(self, locale: str) -> set[str]:
        """Return the keys the catalog of a locale translates (none if it has no catalog)."""
        loaded = self._catalogs.get(_language_of(locale) or "")
        return set(loaded.entries) if loaded is not None else set()

    def is_rtl(self, locale: str) -> bool:
        """Tell whether a locale is written right to left."""
        return _language_of(locale) in RTL_LOCALES

    def text(self, key: str, locale: str, /, **params: object) -> str:
        """Render a key with parameters; an int ``count`` parameter also picks the plural."""
        count = params.get("count")
        plural_count = count if isinstance(count, int) and not isinstance(count, bool) else None
        return self.render(Msg(key, params, plural_count), locale)

    def render(self, msg: Msg | str, locale: str) -> str:
        """Render a message in a locale; a plain string (an API-provided name) passes unchanged."""
        return self._render(msg, self._supported(locale), depth=0)

    def _supported(self, locale: str) -> str:
        """Map a locale code to a loaded catalog's locale, English when unsupported."""
        language = _language_of(locale)
        if language in self._catalogs:
            return language
        self._warn_once(("locale", locale), "unsupported locale %r; rendering English", locale)
        return FALLBACK_LOCALE

    def _warn_once(self, marker: tuple[str, str], text: str, *args: object) -> None:
        """Log a warning once per marker so a hot path cannot flood the log."""
        if marker not in self._warned:
            self._warned.add(marker)
            logger.warning(text, *args)

    def _render(self, msg: Msg | str, locale: str, depth: int) -> str:
        """Render a message, guarding against cyclic nesting."""
        if isinstance(msg, str):
            return msg
        if depth > _MAX_NESTING:
            logger.warning("message %r nested too deeply; showing its key", msg.key)
            return msg.key
        params: dict[str, object] = dict(msg.params)
        if msg.count is not None:
            params.setdefault("count", msg.count)
        found = self._template(msg, locale, params)
        if found is None:
            return msg.key
        template, text_locale = found
        # Parameters follow the sentence's locale, so an English fallback stays wholly English.
        values = {name: self._param(value, text_locale, depth) for name, value in params.items()}
        return _SafeFormatter(msg.key, text_locale).format(template, values)

    def _template(
        self, msg: Msg, locale: str, params: Mapping[str, object]
    ) -> tuple[str, str] | None:
        """Find the text of a message in the locale, else in English; None when nowhere."""
        for candidate in dict.fromkeys((locale, FALLBACK_LOCALE)):
            loaded = self._catalogs.get(candidate)
            entry = loaded.entries.get(msg.key) if loaded is not None else None
            if loaded is None or entry is None:
                self._warn_once(
                    (candidate, msg.key), "message %r is missing in %s", msg.key, candidate
                )
                continue
            if not entry.plural:
                return loaded.translations.gettext(msg.key), candidate
            count = msg.count if msg.count is not None else params.get("count")
            if not isinstance(count, int):
                logger.warning("plural message %r rendered without a count", msg.key)
                return None
            return loaded.translations.ngettext(msg.key, msg.key, count), candidate
        return None

    def _param(self, value: object, locale: str, depth: int) -> str:
        """Format one parameter value for the locale."""
        rtl = self.is_rtl(locale)
        fmt_locale = _FORMAT_LOCALES.get(locale, locale)
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float):
            return str(format_decimal(value, locale=fmt_locale, numbering_system="latn"))
        if isinstance(value, Ltr):
            return _isolate(value.value) if rtl else value.value
        if isinstance(value, Msg):
            return self._render(value, locale, depth + 1)
        if isinstance(value, LocalTime):
            text = self._time(value.value, fmt_locale)
            return _isolate_time(text) if rtl else text
        if isinstance(value, LocalDateTime):
            return self._datetime(value.value, fmt_locale, rtl)
        if isinstance(value, LocalDate):
            return self._date(value.value, value.style, fmt_locale)
        if isinstance(value, datetime):
            return self._datetime(value, fmt_locale, rtl)
        if isinstance(value, date):
            return self._date(value, "medium", fmt_locale)
        logger.warning("parameter of type %s has no locale format", type(value).__name__)
        return str(value)

    def _local(self, instant: datetime) -> datetime:
        """Convert an instant to the company time zone (naive values are UTC, as the API's)."""
        aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
        return aware.astimezone(self._timezone)

    def _date(self, value: date, style: str, fmt_locale: str) -> str:
        """Format a calendar date in one of the named styles."""
        day = self._local(value).date() if isinstance(value, datetime) else value
        if style == "weekday":
            return str(format_skeleton("MMMEd", day, locale=fmt_locale))
        if style not in _DATE_STYLES:
            logger.warning("unknown date style %r; using medium", style)
            style = "medium"
        return str(format_date(day, style, locale=fmt_locale))

    def _time(self, value: datetime, fmt_locale: str) -> str:
        """Format the wall-clock time of an instant, short style."""
        return str(format_time(self._local(value), "short", locale=fmt_locale))

    def _datetime(self, value: datetime, fmt_locale: str, rtl: bool) -> str:
        """Format date and time with the locale's own way of joining them."""
        day = self._date(value, "medium", fmt_locale)
        time_text = self._time(value, fmt_locale)
        pattern = str(Locale.parse(fmt_locale).datetime_formats["medium"])
        return pattern.replace("{1}", day).replace(
            "{0}", _isolate_time(time_text) if rtl else time_text
        )


def _isolate(text: str) -> str:
    """Wrap a fragment in a left-to-right isolate."""
    return f"{LRI}{text}{PDI}"


def _isolate_time(text: str) -> str:
    """Wrap a time in a first-strong isolate (its own letters decide its direction)."""
    return f"{FSI}{text}{PDI}"


def default_locales_dir() -> Path:
    """Return the folder of the shipped catalogs (the ``locales`` package's data)."""
    return Path(str(resources.files("locales")))


@functools.cache
def default_translator() -> Translator:
    """Return the shared translator over the repository catalogs (Asia/Bahrain time)."""
    return Translator(default_locales_dir())
