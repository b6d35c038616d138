"""Own the main menu, help, language choice, slash commands and the shared contact.

Must not import Telegram.
"""

from __future__ import annotations

import logging
from typing import Any

import phonenumbers

from bot.i18n import SUPPORTED_LOCALES, Ltr, Msg
from bot.skiplino import SkiplinoError
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import save_mobile
from conversations.events import Command, ContactShared
from conversations.registry import State, get_state, register
from conversations.replies import Button, ButtonKind, Card

log = logging.getLogger(__name__)

# Region used to read phone numbers written without a country code.
_DEFAULT_REGION_BY_TZ = {"Asia/Bahrain": "BH", "Asia/Riyadh": "SA", "Asia/Dubai": "AE"}


class MenuState(State):
    """The main menu."""

    name = "menu"

    async def render(self, ctx: Ctx) -> None:
        """Show the menu."""
        ctx.show(
            Msg("menu.title"),
            buttons=[
                [ctx.button(Msg("menu.book"), "book")],
                [ctx.button(Msg("menu.tickets"), "mine")],
                [ctx.button(Msg("menu.language"), "lang"), ctx.button(Msg("menu.help"), "help")],
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Open the chosen part of the bot."""
        targets = {"book": "book.branch", "mine": "tickets.list", "help": "help"}
        if data.action in targets:
            ctx.goto(targets[data.action])
        elif data.action == "lang":
            ctx.goto("language")
        else:
            await super().on_tap(ctx, data)


class HelpState(State):
    """What the bot does and its commands."""

    name = "help"

    async def render(self, ctx: Ctx) -> None:
        """Show the help text; Back returns to the step /help was sent from."""
        ctx.show(
            Msg("help.text"),
            buttons=[
                [ctx.button(Msg("common.back"), "b"), ctx.button(Msg("common.main_menu"), "menu")]
            ],
        )


class LanguageState(State):
    """Choose the language; the step the user came from is shown again in it."""

    name = "language"

    async def render(self, ctx: Ctx) -> None:
        """Offer the supported languages."""
        ctx.show(
            Msg("language.choose"),
            buttons=[
                [
                    ctx.button(Msg(f"language.name.{code}"), "setl", code)
                    for code in SUPPORTED_LOCALES
                ],
                ctx.nav_row(),
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> None:
        """Store the chosen language and return to where the user was."""
        if data.action != "setl" or data.arg(0) not in SUPPORTED_LOCALES:
            await super().on_tap(ctx, data)
            return
        ctx.set_profile(locale=data.arg(0))
        ctx.locale = data.arg(0)
        if not ctx.go_back():
            ctx.reset("menu")
        await refetch_tickets(ctx)
        ctx.prefix.append(Msg("language.changed"))


async def refetch_tickets(ctx: Ctx) -> None:
    """Fetch the tickets kept in the session's steps again, now in ``ctx.locale``.

    A ticket card (and a step opened from it) keeps the whole ticket, whose branch and
    service names the API gave in the old language; without this the step shown again after
    a language change would mix both languages. Booking drafts keep only ids and need
    nothing. When the API cannot answer the old ticket stays, which is better than failing
    the language change.
    """
    from conversations.tickets import fetch_owned

    entries = [ctx.session.data, *(entry.get("data") or {} for entry in ctx.session.back)]
    fetched: dict[str, dict[str, Any] | None] = {}
    try:
        for entry in entries:
            raw = entry.get("ticket")
            if not isinstance(raw, dict) or not raw.get("id"):
                continue
            ticket_id = str(raw["id"])
            if ticket_id not in fetched:
                ticket = await fetch_owned(ctx, ticket_id)
                fetched[ticket_id] = (
                    ticket.model_dump(mode="json", by_alias=True) if ticket is not None else None
                )
            if fetched[ticket_id] is None:
                continue
            entry["ticket"] = fetched[ticket_id]
            if "checked_at" in entry:
                entry["checked_at"] = ctx.now().isoformat()
    except SkiplinoError:
        log.warning("could not fetch tickets in %s; the step keeps the old ones", ctx.locale)


register(MenuState())
register(HelpState())
register(LanguageState())


async def run_command(ctx: Ctx, command: Command) -> None:
    """Run a slash command; every command works from any state."""
    name, arg = command.name.lower(), command.arg.strip()
    if ctx.state == PhoneState.name and name != "phone":
        # Leaving the phone step by a command: take its contact keyboard away too, or its
        # buttons would linger under every later card.
        ctx.cards.append(Card((Msg("phone.skipped"),), remove_reply_keyboard=True))
    if name == "start":
        if arg.startswith("t_"):
            from conversations.tickets import open_ticket

            ctx.reset("menu")
            await open_ticket(ctx, arg[2:])
            return
        ctx.reset("menu")
        ctx.prefix.append(Msg("menu.welcome"))
    elif name == "book":
        ctx.reset("menu")
        ctx.goto("book.branch")
    elif name == "tickets":
        ctx.reset("menu")
        ctx.goto("tickets.list")
    elif name == "ticket":
        from conversations.tickets import open_ticket_by_reference

        ctx.reset("menu")
        await open_ticket_by_reference(ctx, arg)
    elif name == "language":
        ctx.goto("language")
    elif name == "help":
        ctx.goto("help")
    elif name == "phone":
        ctx.goto("phone")
    else:
        ctx.prefix.append(Msg("errors.unknown_command"))


class PhoneState(State):
    """Ask for the user's phone number through Telegram's contact button."""

    name = "phone"

    async def render(self, ctx: Ctx) -> None:
        """Show the contact button."""
        # A reply keyboard cannot carry inline buttons: any typed text (or the keyboard's
        # second button) leaves this step instead of Back/Cancel.
        ctx.show(
            Msg("phone.ask"),
            buttons=[
                [ctx.contact_button(Msg("phone.share"))],
                [Button(Msg("common.cancel"), kind=ButtonKind.TEXT)],
            ],
        )

    async def on_text(self, ctx: Ctx, text: str) -> None:
        """Leave the step: the user chose not to share."""
        ctx.cards.append(Card((Msg("phone.skipped"),), remove_reply_keyboard=True))
        if not ctx.go_back():
            ctx.reset("menu")


register(PhoneState())


async def receive_contact(ctx: Ctx, contact: ContactShared) -> None:
    """Store the user's own phone number on the profile and the Skiplino customer."""
    if contact.user_id != ctx.user.id:
        ctx.prefix.append(Msg("phone.not_yours"))
        return
    region = _DEFAULT_REGION_BY_TZ.get(ctx.timezone.key, "BH")
    raw = contact.phone if contact.phone.startswith("+") else f"+{contact.phone}"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        ctx.prefix.append(Msg("phone.invalid"))
        return
    mobile = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    saved = await save_mobile(ctx, mobile)
    key = "phone.saved" if saved else "phone.not_saved"
    ctx.cards.append(Card((Msg(key, {"phone": Ltr(mobile)}),), remove_reply_keyboard=True))
    if ctx.state == "phone" and not ctx.go_back():
        ctx.reset("menu")
    await get_state(ctx.state).render(ctx)
