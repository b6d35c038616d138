"""Own /forget: the user asks, confirms, and everything the bot keeps about them is deleted.

What goes: the profile (language, linked Skiplino customer, name, phone) and the
conversation so far. What stays is said to the user: the customer record and tickets at the
business's Skiplino account, which the bot does not own. Exports the flow value ``PRIVACY``.
Must not import Telegram.
"""

from __future__ import annotations

from enum import StrEnum

from bot.i18n import Msg
from conversations.callback import CallbackData
from conversations.context import Ctx
from conversations.flow import EngineAction, Flow, Outcome, Shown, State


class PrivacyStep(StrEnum):
    """The states of the privacy flow."""

    FORGET = "forget"


class PrivacyAction(StrEnum):
    """Buttons of the privacy flow; the short codes are what callback data carries."""

    FORGET_YES = "fgy"


class ForgetState(State):
    """Ask before forgetting the user: Yes deletes, No goes back."""

    name = PrivacyStep.FORGET

    async def render(self, ctx: Ctx) -> Shown:
        """Say what will be deleted and what stays, and ask."""
        return ctx.show(
            Msg("forget.ask"),
            buttons=[
                [ctx.button(Msg("forget.yes"), PrivacyAction.FORGET_YES)],
                [ctx.button(Msg("forget.no"), EngineAction.BACK)],
            ],
        )

    async def on_tap(self, ctx: Ctx, data: CallbackData) -> Outcome:
        """Forget the user on Yes."""
        if data.action != PrivacyAction.FORGET_YES:
            return await super().on_tap(ctx, data)
        ctx.forget_user()
        ctx.notice(Msg("forget.done"))
        return None


async def forget_command(ctx: Ctx, arg: str) -> Outcome:
    """Ask whether to forget everything the bot keeps about the user (/forget)."""
    ctx.goto(PrivacyStep.FORGET)
    return None


PRIVACY = Flow(
    name="privacy",
    states={PrivacyStep.FORGET: ForgetState()},
    commands={"forget": forget_command},
)
