"""No user-facing text is written in code: every text the user reads comes from locales/.

The detector reads the code of ``conversations/`` and ``bot/telegram/`` (the layers that decide
and send what users see) with ``ast`` and reports, with file and line:

1. a string literal containing a letter given as the text of a reply or a Bot API call:
   - the label of ``Button``, ``KeyboardButton``, ``InlineKeyboardButton`` and of the
     ``button``/``contact_button``/``show`` helpers (first positional, ``label=``/``text=``);
   - anywhere among the arguments of ``Card(...)``, ``Notice(...)`` and ``Replies(...)``
     (except ids and payloads such as ``data=``);
   - the description of ``BotCommand``;
   - the text of ``send_message``, ``answer``, ``reply_text``, ``edit_text``,
     ``edit_message_text``, ``answer_callback_query`` ... (its text position, ``text=``,
     ``caption=``);
2. ``Msg("key")`` with a literal key that the English catalog does not have.

What it deliberately ignores: log calls, callback data (``data=``, ``callback_data=``), dict
keys, docstrings, subscripts, f-string fields, and calls nested in an argument (each call is
checked on its own). A literal is followed through tuples, lists, conditionals, ``+`` and
f-strings, so ``Card(lines=("Hi " + name,))`` is caught too. Texts without letters (emoji,
"»", digits) are not language and pass.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.i18n import catalog_path, default_locales_dir, read_catalog

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (ROOT / "conversations", ROOT / "bot" / "telegram")

ALL = -1  # every argument is text


@dataclass(frozen=True)
class TextArguments:
    """Which arguments of a call are shown to the user."""

    positions: tuple[int, ...]
    keywords: frozenset[str] = frozenset({"text", "caption", "label"})


LABEL = TextArguments((0,))
ALL_ARGUMENTS = TextArguments((ALL,))
TEXT_ARGUMENTS: dict[str, TextArguments] = {
    "Button": LABEL,
    "KeyboardButton": LABEL,
    "InlineKeyboardButton": LABEL,
    "button": LABEL,
    "contact_button": LABEL,
    "show": LABEL,
    "Card": ALL_ARGUMENTS,
    "Notice": ALL_ARGUMENTS,
    "Replies": ALL_ARGUMENTS,
    "BotCommand": TextArguments((1,), frozenset({"description"})),
    "send_message": TextArguments((1,)),
    "answer_callback_query": TextArguments((1,)),
    "answer": LABEL,
    "reply_text": LABEL,
    "reply_html": LABEL,
    "reply_markdown_v2": LABEL,
    "edit_text": LABEL,
    "edit_message_text": LABEL,
    "edit_caption": LABEL,
    "edit_message_caption": TextArguments(()),
    "send_photo": TextArguments(()),
    "set_my_description": TextArguments((0,), frozenset({"description"})),
    "set_my_short_description": TextArguments((0,), frozenset({"short_description"})),
}
# Ids and payloads, never shown as text.
NOT_TEXT_KEYWORDS = frozenset(
    {"data", "callback_data", "kind", "url", "parse_mode", "chat_id", "message_id", "payload"}
)
LOGGER_NAME = re.compile(r"^_?(log|logger|logging|LOG|LOGGER)$")


@dataclass(frozen=True)
class Finding:
    """One place where code writes user-facing text or names an unknown key."""

    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        """Show the finding as path:line: problem."""
        return f"{self.path}:{self.line}: {self.problem}"


def call_name(call: ast.Call) -> str | None:
    """Return the name a call is made by: ``Button`` or the method name of ``x.answer``."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def is_log_call(call: ast.Call) -> bool:
    """Tell whether a call goes to a logger (``logger.info``, ``logging.warning``)."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and LOGGER_NAME.match(func.value.id) is not None
    )


def literal_texts(node: ast.expr) -> Iterator[tuple[int, str]]:
    """Yield the string literals an argument expression is built from, with their line."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.lineno, node.value
    elif isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield node.lineno, part.value
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            yield from literal_texts(element)
    elif isinstance(node, ast.Starred):
        yield from literal_texts(node.value)
    elif isinstance(node, ast.IfExp):
        yield from literal_texts(node.body)
        yield from literal_texts(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from literal_texts(value)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield from literal_texts(node.left)
        yield from literal_texts(node.right)


def text_arguments(call: ast.Call, spec: TextArguments) -> Iterator[ast.expr]:
    """Yield the arguments of a call that are shown to the user."""
    for index, argument in enumerate(call.args):
        if ALL in spec.positions or index in spec.positions:
            yield argument
    for keyword in call.keywords:
        if keyword.arg is None or keyword.arg in NOT_TEXT_KEYWORDS:
            continue
        if ALL in spec.positions or keyword.arg in spec.keywords:
            yield keyword.value


def msg_key(call: ast.Call) -> ast.Constant | None:
    """Return the literal key of a ``Msg(...)`` call, if it is a plain string."""
    candidates = call.args[:1] + [k.value for k in call.keywords if k.arg == "key"]
    for node in candidates:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node
    return None


def find_literals(source: str, path: str, known_keys: set[str]) -> list[Finding]:
    """Return the user-facing literals and unknown catalog keys in one module's source."""
    findings: list[Finding] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if not isinstance(node, ast.Call) or is_log_call(node):
            continue
        name = call_name(node)
        if name == "Msg":
            key = msg_key(node)
            if key is not None and key.value not in known_keys:
                findings.append(Finding(path, key.lineno, f"unknown catalog key {key.value!r}"))
            continue
        spec = TEXT_ARGUMENTS.get(name or "")
        if spec is None:
            continue
        for argument in text_arguments(node, spec):
            for line, text in literal_texts(argument):
                if any(character.isalpha() for character in text):
                    findings.append(Finding(path, line, f"literal text {text!r} in {name}()"))
    return sorted(findings, key=lambda finding: (finding.line, finding.problem))


def scan(folders: tuple[Path, ...], known_keys: set[str]) -> list[Finding]:
    """Check every Python module under the folders (missing folders have nothing to check)."""
    findings: list[Finding] = []
    for folder in folders:
        for module in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
            relative = module.relative_to(ROOT) if module.is_relative_to(ROOT) else module
            findings += find_literals(module.read_text("utf-8"), str(relative), known_keys)
    return findings


def english_keys() -> set[str]:
    """Return the keys of the English catalog."""
    catalog = read_catalog(catalog_path(default_locales_dir(), "en"), "en")
    return {
        str(message.id[0] if message.pluralizable else message.id)
        for message in catalog
        if message.id
    }


KEYS = english_keys()


def check(source: str) -> list[str]:
    """Run the detector on a synthetic module and return its findings as text."""
    return [str(finding) for finding in find_literals(source, "sample.py", KEYS)]


# --- the real code ---------------------------------------------------------------------------


def test_conversations_and_the_telegram_adapter_write_no_user_facing_text() -> None:
    findings = [str(finding) for finding in scan(SCANNED, KEYS)]
    assert findings == [], "move these texts to locales/:\n" + "\n".join(findings)


# --- the detector itself ---------------------------------------------------------------------


def test_a_literal_card_line_is_reported() -> None:
    assert check('Card(lines=("Hello there",))') == [
        "sample.py:1: literal text 'Hello there' in Card()"
    ]


def test_a_fixture_file_with_a_literal_fails_the_scan(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(
        'from conversations.replies import Card\n\nCARD = Card(lines=("Hello there",))\n',
        "utf-8",
    )
    findings = scan((tmp_path,), KEYS)
    assert [(Path(f.path).name, f.line) for f in findings] == [("flow.py", 3)]


def test_an_empty_or_missing_folder_has_nothing_to_report(tmp_path: Path) -> None:
    assert scan((tmp_path, tmp_path / "not-there"), KEYS) == []


def test_literal_button_labels_are_reported() -> None:
    source = 'Button("Book now", data="book")\nButton(label="Back")\nctx.button("Help", "help")\n'
    assert len(check(source)) == 3


def test_literal_texts_sent_to_telegram_are_reported() -> None:
    source = "\n".join(
        [
            'await bot.send_message(chat_id, "Welcome!")',
            'await bot.send_message(chat_id=1, text="Welcome!")',
            'await query.answer("Done")',
            'await message.reply_text(f"Hello {name}")',
            'await bot.answer_callback_query(query_id, "Saved")',
            'BotCommand("start", "Main menu")',
        ]
    )
    assert [finding.split(":")[1] for finding in check(source)] == ["1", "2", "3", "4", "5", "6"]


def test_literals_hidden_in_expressions_are_reported() -> None:
    source = 'Card(lines=(Msg("menu.title"), "Hi " + name, "a" if x else "b"))'
    assert len(check(source)) == 3


def test_unknown_catalog_keys_are_reported_and_known_ones_pass() -> None:
    source = 'Msg("menu.title")\nMsg("no.such.key")\nMsg(key="also.missing")\n'
    assert check(source) == [
        "sample.py:2: unknown catalog key 'no.such.key'",
        "sample.py:3: unknown catalog key 'also.missing'",
    ]


def test_logs_payloads_dict_keys_docstrings_and_symbols_are_allowed() -> None:
    source = '''
"""Module docstring with words."""

def handler() -> None:
    """Do something with words."""
    logger.warning("Could not answer the callback")
    logging.info("send_message failed")
    Button(Msg("common.back"), data="nav:back")
    InlineKeyboardButton(label, callback_data="book:branch:1")
    Button(Msg(f"language.name.{code}"), data="lang")
    Button(branch.name, data="b:1", kind=ButtonKind.URL, url="https://example.com")
    Card(lines=(Msg("menu.title", {"name": Ltr(name)}),), buttons=rows)
    Notice(Msg("errors.busy"))
    Button("🔄", data="refresh")
    await query.answer()
    await bot.send_message(chat_id, text)
    params = {"label": value}
'''
    assert check(source) == []
