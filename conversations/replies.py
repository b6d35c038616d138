"""Own the plain-data replies a transition returns; the Telegram adapter renders them.

Must not import Telegram. Texts are catalog keys plus parameters (see ``bot.i18n.Msg``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.i18n import Msg


class ButtonKind(StrEnum):
    """What pressing a button does."""

    CALLBACK = "callback"
    CONTACT = "contact"  # reply-keyboard button that shares the user's phone number
    URL = "url"
    TEXT = "text"  # reply-keyboard button that sends its label as text


@dataclass(frozen=True)
class Button:
    """One button: a label (catalog message or a name the API returned) and its payload."""

    label: Msg | str
    data: str = ""
    kind: ButtonKind = ButtonKind.CALLBACK


@dataclass(frozen=True)
class Card:
    """One message of the conversation: text lines and rows of buttons.

    ``new_message`` asks for a fresh message instead of editing the flow's card
    (the user typed text, or the card is gone).
    """

    lines: tuple[Msg, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    new_message: bool = False
    # Take away a reply keyboard (the contact button) shown by an earlier card.
    remove_reply_keyboard: bool = False
