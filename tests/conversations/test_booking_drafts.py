"""A booking draft keeps only ids: names and flags come from the catalogue when a step is shown.

So a branch that left the catalogue mid-booking is noticed, and a draft stored by an older
version (with names and flags beside the ids) still goes on, with today's names.
"""

from __future__ import annotations

import json

from tests.conversations.booking_steps import (
    BRANCH,
    WALK_IN_SERVICE,
    session_of,
    to_walk_in_confirm,
    user,
)
from tests.fakes.harness import Harness

GONE_LINE = "That choice is no longer available."


async def forget_cached_branches(harness: Harness) -> None:
    """Drop the cached catalogue, as its 60 seconds running out would."""
    keys = [key async for key in harness.redis.scan_iter(f"{harness.prefix}:cache:*")]
    if keys:
        await harness.redis.delete(*keys)


async def test_a_branch_that_left_the_catalogue_mid_booking_sends_the_user_to_the_branch_list(
    harness: Harness,
) -> None:
    chat = user(harness)
    await to_walk_in_confirm(chat)
    branch = next(b for b in harness.sandbox.branches if b.id == harness.sandbox.sample.open_branch)
    branch.active = False
    await forget_cached_branches(harness)

    branches = await chat.tap("Back")

    assert branches.text == f"{GONE_LINE}\nChoose a branch:"
    assert BRANCH not in " ".join(chat.labels())
    assert (await session_of(harness, chat)).state == "book.branch"
    menu = await chat.tap("Back")
    assert "What would you like to do?" in menu.text


async def test_a_draft_stored_with_names_and_flags_goes_on_with_the_catalogues_names(
    harness: Harness,
) -> None:
    chat = user(harness, 1002)
    await to_walk_in_confirm(chat)
    key = f"{harness.prefix}:session:{{{chat.user.id}}}"
    raw = await harness.redis.get(key)
    assert raw is not None, "no session stored for the chat"
    stored = json.loads(raw)
    # What an older version kept beside the ids; none of it is read any more.
    old_keys = {
        "branch_name": "Old Branch",
        "group_name": "Old Group",
        "service_name": "Old Service",
        "is_open": False,
        "is_appointment": False,
    }
    for entry in [{"draft": stored["draft"]}, *stored["back"]]:
        entry["draft"].update(old_keys)
    await harness.redis.set(key, json.dumps(stored), keepttl=True)

    mode = await chat.tap("Back")
    assert mode.text == WALK_IN_SERVICE
    assert chat.labels()[0] == "🚶 Join the queue now"

    await chat.send("/language")
    confirm_ar = await chat.tap("العربية")
    assert confirm_ar.text == "تم تغيير اللغة إلى العربية.\nسحب نقدي"
    confirm = await chat.tap("انضم إلى الطابور")
    assert "الفرع: فرع سيف مول" in confirm.text.splitlines()
    ticket = await chat.tap("تأكيد")
    assert ticket.text.startswith("✅ تم الحجز!")
