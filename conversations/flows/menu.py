"""Own the main menu, help, language choice, the phone number, and the flow value ``MENU``.

Its commands are /start (also with a ``t_<id>`` deep link to a ticket), /language, /help
and /phone; it takes the contact a user shares. Must not import Telegram.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import phonenumbers

from bot.i18n import SUPPORTED_LOCALES, Ltr, Msg
from bot.skiplino import SkiplinoError, Ticket
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.customers import save_mobile
from conversations.events import ContactShared
from conversations.flow import EngineAction, Flow, Outcome, Shown, State
from conversations.flows.booking import BookingStep
from conversations.replies import Button, ButtonKind, Card
from conversations.session import HOME_STATE, Frame, Paging, TicketCard, ticket_of
from conversations.ticket_card import TicketAction, fetch_owned, open_ticket

log = logging.getLogger(__name__)

# Region used to read phone numbers written without a country code.
_DEFAULT_REGION_BY_TZ = {"Asia/Bahrain": "BH", "Asia/Riyadh": "SA", "Asia/Dubai": "AE"}
# A /start deep link naming a ticket: ``/start t_<ticket id>``.
_TICKET_LINK = "t_"


class MenuStep(StrEnum):
    """The states of the menu flow."""

    MENU = HOME_STATE
    HELP = "help"
    LANGUAGE = "language"
    PHONE = "phone"


class MenuAction(StrEnum):
    """Buttons of the menu steps; the short codes are what callback data carries."""

    BOOK = "book"
    TICKETS = TicketAction.MINE.value  # the tickets flow handles it from any step
    LANGUAGE = "lang"
    HELP = "help"
    SET_LANGUAGE = "setl"


class MenuState(State):
    """The main menu."""

    name = MenuStep.MENU

    async def render(self, ctx: Ctx) -> Shown:
        """Show the menu."""
        return ctx.show(
            Msg("menu.title"),
            buttons=[
                [ctx.button(Msg("menu.book"), MenuAction.BOOK)],
                [ctx.button(Msg("menu.tickets"), MenuAction.TICKETS)],
                [
                    ctx.button(Msg("menu.language"), MenuAction.LANGUAGE),
                    ctx.button(Msg("menu.help"), MenuAction.HELP),
                ],
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Open the chosen part of the bot."""
        if data.action == MenuAction.BOOK:
            ctx.goto(BookingStep.BRANCH, Paging())
        elif data.action == MenuAction.HELP:
            ctx.goto(MenuStep.HELP)
        elif data.action == MenuAction.LANGUAGE:
            ctx.goto(MenuStep.LANGUAGE)
        else:
            return await super().on_tap(ctx, data)
        return None


class HelpState(State):
    """What the bot does and its commands."""

    name = MenuStep.HELP

    async def render(self, ctx: Ctx) -> Shown:
        """Show the help text; Back returns to the step /help was sent from."""
        return ctx.show(
            Msg("help.text"),
            buttons=[
                [
                    ctx.button(Msg("common.back"), EngineAction.BACK),
                    ctx.button(Msg("common.main_menu"), EngineAction.MENU),
                ]
            ],
        )


class LanguageState(State):
    """Choose the language; the step the user came from is shown again in it."""

    name = MenuStep.LANGUAGE

    async def render(self, ctx: Ctx) -> Shown:
        """Offer the supported languages."""
        return ctx.show(
            Msg("language.choose"),
            buttons=[
                [
                    ctx.button(Msg(f"language.name.{code}"), MenuAction.SET_LANGUAGE, code)
                    for code in SUPPORTED_LOCALES
                ],
                ctx.nav_row(),
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Store the chosen language and return to where the user was."""
        if data.action != MenuAction.SET_LANGUAGE or data.arg(0) not in SUPPORTED_LOCALES:
            return await super().on_tap(ctx, data)
        ctx.set_profile(locale=data.arg(0))
        ctx.locale = data.arg(0)
        if not ctx.go_back():
            ctx.reset()
        await refetch_tickets(ctx)
        ctx.notice(Msg("language.changed"))
        return None


async def refetch_tickets(ctx: Ctx) -> None:
    """Fetch the tickets kept in the session's steps again, now in ``ctx.locale``.

    A ticket card (and a step opened from it) keeps the whole ticket, whose branch and
    service names the API gave in the old language; without this the step shown again after
    a language change would mix both languages. Booking drafts keep only ids and need
    nothing. When the API cannot answer the old ticket stays, which is better than failing
    the language change.
    """
    session = ctx.session
    current = Frame(state=session.state, draft=session.draft)
    frames = [current, *session.back]
    fetched: dict[str, Ticket | None] = {}
    try:
        for frame in frames:
            kept = ticket_of(frame.draft)
            if kept is None:
                continue
            if kept.id not in fetched:
                fetched[kept.id] = await fetch_owned(ctx, kept.id)
            fresh = fetched[kept.id]
            if fresh is None:
                continue
            update: dict[str, object] = {"ticket": fresh}
            if isinstance(frame.draft, TicketCard) and frame.draft.checked_at is not None:
                update["checked_at"] = ctx.now()
            frame.draft = frame.draft.model_copy(update=update)
    except SkiplinoError:
        log.warning("could not fetch tickets in %s; the step keeps the old ones", ctx.locale)
    session.draft = current.draft


class PhoneState(State):
    """Ask for the user's phone number through Telegram's contact button."""

    name = MenuStep.PHONE

    async def render(self, ctx: Ctx) -> Shown:
        """Show the contact button."""
        # A reply keyboard cannot carry inline buttons: any typed text (or the keyboard's
        # second button) leaves this step instead of Back/Cancel.
        return ctx.show(
            Msg("phone.ask"),
            buttons=[
                [ctx.contact_button(Msg("phone.share"))],
                [Button(Msg("common.cancel"), kind=ButtonKind.TEXT)],
            ],
        )

    async def on_text(self, ctx: Ctx, text: str) -> Outcome:
        """Leave the step: the user chose not to share."""
        ctx.cards.append(Card((Msg("phone.skipped"),), remove_reply_keyboard=True))
        if not ctx.go_back():
            ctx.reset()
        return None


def leave_phone_step(ctx: Ctx, command: str) -> None:
    """Take the contact keyboard away when a command other than /phone leaves the phone step.

    Otherwise its buttons would linger under every later card.
    """
    if ctx.state == MenuStep.PHONE and command != "phone":
        ctx.cards.append(Card((Msg("phone.skipped"),), remove_reply_keyboard=True))


async def receive_contact(ctx: Ctx, contact: ContactShared) -> Outcome:
    """Store the user's own phone number on the profile and the Skiplino customer."""
    if contact.user_id != ctx.user.id:
        ctx.notice(Msg("phone.not_yours"))
        return None
    region = _DEFAULT_REGION_BY_TZ.get(ctx.timezone.key, "BH")
    raw = contact.phone if contact.phone.startswith("+") else f"+{contact.phone}"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        ctx.notice(Msg("phone.invalid"))
        return None
    mobile = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    saved = await save_mobile(ctx, mobile)
    key = "phone.saved" if saved else "phone.not_saved"
    ctx.cards.append(Card((Msg(key, {"phone": Ltr(mobile)}),), remove_reply_keyboard=True))
    if ctx.state == MenuStep.PHONE and not ctx.go_back():
        ctx.reset()
    return None


async def start_command(ctx: Ctx, arg: str) -> Outcome:
    """Start over at the menu (/start), or open the ticket a deep link names."""
    ctx.reset()
    if arg.startswith(_TICKET_LINK):
        return await open_ticket(ctx, arg.removeprefix(_TICKET_LINK))
    ctx.notice(Msg("menu.welcome"))
    return None


async def language_command(ctx: Ctx, arg: str) -> Outcome:
    """Open the language choice (/language)."""
    ctx.goto(MenuStep.LANGUAGE)
    return None


async def help_command(ctx: Ctx, arg: str) -> Outcome:
    """Open the help (/help)."""
    ctx.goto(MenuStep.HELP)
    return None


async def phone_command(ctx: Ctx, arg: str) -> Outcome:
    """Ask for the phone number (/phone)."""
    ctx.goto(MenuStep.PHONE)
    return None


MENU = Flow(
    name="menu",
    states={
        state.name: state for state in (MenuState(), HelpState(), LanguageState(), PhoneState())
    },
    commands={
        "start": start_command,
        "language": language_command,
        "help": help_command,
        "phone": phone_command,
    },
    on_contact=receive_contact,
    before_command=leave_phone_step,
)
