"""A whole booking, a cancel and typed dates done in Arabic, through fake Telegram and the sandbox.

What an Arabic user must see: Arabic texts from the catalog, branch/group/service names and the
API's reasons in Arabic as the sandbox returns them for ``X-Locale: ar``, Latin digits, ticket
numbers and times in Unicode isolates, and keyboards laid out right to left. Every Skiplino
call of an Arabic user carries ``X-Locale: ar``.
"""

from __future__ import annotations

import re

from bot.i18n import Msg, default_translator
from bot.testing.fake_api import ChatMessage
from sandbox import Sandbox
from tests.fakes.harness import Chat, Harness

LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"
ISOLATED_NUMBER = re.compile(f"{LRI}([AQ]\\d+){PDI}")
ARABIC_INDIC_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
BACK, CANCEL = "« رجوع", "✖ إلغاء"
NAV_ROW = [CANCEL, BACK]  # Back sits on the right, where a right-to-left reader starts
DATE_HINT = "لم أفهم هذا التاريخ. جرّب «غدًا» أو «15/12»، أو اختر يومًا من الأزرار."


def arabic(key: str) -> str:
    """Return a catalog text as an Arabic user reads it (for texts another flow owns)."""
    return default_translator().render(Msg(key), "ar")


def assert_all_calls_were_arabic(sandbox: Sandbox) -> None:
    """Check that every Skiplino call so far carried X-Locale: ar."""
    calls = [(r.method, r.api_path, r.locale) for r in sandbox.requests]
    assert calls, "no Skiplino call was made"
    assert [call for call in calls if call[2] != "ar"] == []


def assert_latin_digits_only(harness: Harness, chat: Chat) -> None:
    """Check that no bot message or button of the chat used Arabic-Indic digits."""
    shown = [e for e in harness.telegram.transcript(chat.user.id) if e.from_bot]
    texts = [e.text or "" for e in shown] + [
        label for e in shown for row in e.buttons for label in row
    ]
    assert any(re.search(r"\d", text) for text in texts)
    assert [text for text in texts if ARABIC_INDIC_DIGIT.search(text)] == []


def ticket_number(card: ChatMessage) -> str:
    """Return the (isolated) ticket number shown on a card."""
    found = ISOLATED_NUMBER.search(card.text)
    assert found is not None, card.text
    return found.group(1)


async def to_walk_in_confirm(chat: Chat) -> ChatMessage:
    """Walk an Arabic chat to the Confirm step of a walk-in at Seef Mall, Cash Withdrawal."""
    await chat.send("/start")
    await chat.tap("🎫 حجز تذكرة")
    await chat.tap("🟢 فرع سيف مول")
    await chat.tap("خدمات الصراف")
    await chat.tap("🚶 سحب نقدي")
    return await chat.tap("🚶 انضم إلى الطابور الآن")


async def to_date_step(chat: Chat) -> ChatMessage:
    """Walk an Arabic chat to the date step of an appointment at Seef Mall, Account Opening."""
    await chat.send("/start")
    await chat.tap("🎫 حجز تذكرة")
    await chat.tap("🟢 فرع سيف مول")
    await chat.tap("خدمة العملاء")
    await chat.tap("🗓 فتح حساب")
    return await chat.tap("🗓 احجز موعدًا")


async def test_an_arabic_appointment_is_booked_in_arabic_with_x_locale_ar_on_every_call(
    harness: Harness,
) -> None:
    chat = harness.user(3001, language_code="ar-BH")

    menu = await chat.send("/start")
    assert menu.text == (
        "أهلًا بك! يمكنني أن آخذ لك تذكرة انتظار أو أحجز لك موعدًا.\nماذا تود أن تفعل؟"
    )
    branches = await chat.tap("🎫 حجز تذكرة")
    assert branches.text == "اختر الفرع:"
    assert branches.buttons == [
        ["🟢 فرع سيف مول"],
        ["🟢 فرع المنامة المركزي"],
        ["🟢 فرع المحرق"],
        ["🔴 فرع الرفاع (مغلق الآن)"],
        NAV_ROW,
    ]
    groups = await chat.tap("🟢 فرع سيف مول")
    assert groups.text == "فرع سيف مول\nاختر مجموعة الخدمات:"
    assert groups.buttons[:3] == [["خدمات الصراف"], ["خدمة العملاء"], ["القروض والتمويل"]]
    services = await chat.tap("خدمة العملاء")
    assert services.buttons == [["🗓 فتح حساب"], ["🚶 خدمات البطاقات"], NAV_ROW]
    mode = await chat.tap("🗓 فتح حساب")
    assert mode.text == "فتح حساب"
    days = await chat.tap("🗓 احجز موعدًا")
    assert days.text == "فتح حساب\nاختر يومًا، أو اكتب تاريخًا (مثل: غدًا، الأحد القادم، 15/12):"

    slots = await chat.tap("الأربعاء، 2 ديسمبر")
    assert slots.text == "الأوقات المتاحة يوم 2 ديسمبر 2026:"
    # The earliest time is the right-most button of the first row, in an isolate, with the
    # places left in Arabic's "few" plural form.
    earliest = slots.buttons[0][-1]
    assert earliest == f"{FSI}8:00 ص{PDI} · بقيت 3 أماكن"
    assert slots.buttons[-1] == NAV_ROW

    confirm = await chat.tap(earliest)
    assert confirm.text == (
        "يرجى مراجعة حجزك:\n"
        "الفرع: فرع سيف مول\n"
        "الخدمة: فتح حساب\n"
        f"الموعد: 2 ديسمبر 2026، {FSI}8:00 ص{PDI}"
    )
    card = await chat.tap("✅ تأكيد")

    lines = card.text.splitlines()
    number = ticket_number(card)
    assert lines[:5] == [
        "✅ تم الحجز!",
        f"🎫 التذكرة {LRI}{number}{PDI}",
        "الحالة: موعد قادم",
        "الفرع: فرع سيف مول",
        "الخدمة: فتح حساب",
    ]
    assert f"{FSI}8:00 ص{PDI}" in lines[5]  # the appointment, in Bahrain time
    assert lines[-1] == f"آخر تحديث: {FSI}10:00 ص{PDI}"  # 07:00 UTC is 10:00 in Bahrain
    booked = [t for t in harness.sandbox.tickets if t.number == number]
    assert len(booked) == 1

    assert_all_calls_were_arabic(harness.sandbox)
    assert ("POST", "/tickets/book") in {(r.method, r.api_path) for r in harness.sandbox.requests}
    assert_latin_digits_only(harness, chat)


async def test_an_arabic_walk_in_is_booked_and_cancelled_with_x_locale_ar_on_every_call(
    harness: Harness,
) -> None:
    chat = harness.user(3002, language_code="ar")
    confirm = await to_walk_in_confirm(chat)
    assert confirm.text == (
        "يرجى مراجعة حجزك:\n"
        "الفرع: فرع سيف مول\n"
        "الخدمة: سحب نقدي\n"
        "التذكرة: الانضمام إلى الطابور الآن"
    )

    card = await chat.tap("✅ تأكيد")
    number = ticket_number(card)
    # Five people wait in the sample queue: the "few" form (3-10); 15 minutes: "many" (11-99).
    assert "5 أشخاص أمامك" in card.text.splitlines()
    assert "حوالي 15 دقيقةً" in card.text.splitlines()

    question = await chat.tap(arabic("tickets.cancel_button"))
    assert f"{LRI}{number}{PDI}" in question.text
    assert "سحب نقدي" in question.text
    assert "فرع سيف مول" in question.text
    assert question.text.endswith("؟")
    done = await chat.tap(arabic("tickets.cancel_yes"))

    assert f"✅ أُلغيت التذكرة {LRI}{number}{PDI}." in done.text.splitlines()
    assert "الحالة: ملغاة" in done.text.splitlines()
    (ticket,) = [t for t in harness.sandbox.tickets if t.number == number]
    assert ticket.status == "cancelled"

    paths = [(r.method, r.api_path) for r in harness.sandbox.requests]
    assert ("POST", f"/tickets/{ticket.id}/cancel") in paths
    assert_all_calls_were_arabic(harness.sandbox)
    assert_latin_digits_only(harness, chat)


async def test_the_apis_reason_for_refusing_a_booking_is_shown_in_arabic(
    harness: Harness,
) -> None:
    chat = harness.user(3003, language_code="ar-SA")
    await to_walk_in_confirm(chat)
    # The branch closes while the user looks at the summary.
    branch = next(b for b in harness.sandbox.branches if b.id == harness.sandbox.sample.open_branch)
    branch.is_open = False

    refused = await chat.tap("✅ تأكيد")

    assert refused.text == "تعذّر إتمام الحجز: الفرع مغلق حالياً."
    assert refused.buttons == [NAV_ROW]
    book = [r for r in harness.sandbox.requests if r.api_path == "/tickets/book"]
    assert [(r.status, r.locale) for r in book] == [(400, "ar")]
    assert_all_calls_were_arabic(harness.sandbox)


async def test_arabic_keyboards_read_right_to_left(harness: Harness) -> None:
    chat = harness.user(3004, language_code="ar")
    days = await to_date_step(chat)
    # Today (Tuesday 1 December) is the first choice, so it sits on the right of the first row.
    assert days.buttons == [
        ["الأربعاء، 2 ديسمبر", "الثلاثاء، 1 ديسمبر"],
        ["الجمعة، 4 ديسمبر", "الخميس، 3 ديسمبر"],
        ["الأحد، 6 ديسمبر", "السبت، 5 ديسمبر"],
        ["الاثنين، 7 ديسمبر"],
        NAV_ROW,
    ]
    menu = await chat.send("/start")
    assert menu.buttons[-1] == ["❓ المساعدة", "🌐 اللغة"]


async def test_dates_typed_in_arabic_open_that_days_times(harness: Harness) -> None:
    chat = harness.user(3005, language_code="ar-BH")
    await to_date_step(chat)

    typed = {
        "غدا": "2 ديسمبر 2026",
        "بكرة": "2 ديسمبر 2026",
        "الأحد القادم": "6 ديسمبر 2026",
        "15/12": "15 ديسمبر 2026",
        "١٥/١٢": "15 ديسمبر 2026",
        "tomorrow": "2 ديسمبر 2026",  # English is always understood too
    }
    for text, day in typed.items():
        slots = await chat.send(text)
        assert slots.text.splitlines()[0] == f"الأوقات المتاحة يوم {day}:", text
        date_step = await chat.tap(BACK)
        assert date_step.text.endswith("(مثل: غدًا، الأحد القادم، 15/12):"), text


async def test_a_text_that_is_not_a_date_gets_a_hint_and_the_same_step(harness: Harness) -> None:
    chat = harness.user(3006, language_code="ar")
    await to_date_step(chat)

    hint = await chat.send("صباحًا إن شاء الله")
    assert hint.text.splitlines()[0] == DATE_HINT
    assert hint.text.splitlines()[1] == "فتح حساب"
    assert hint.buttons[0] == ["الأربعاء، 2 ديسمبر", "الثلاثاء، 1 ديسمبر"]

    past = await chat.send("أمس")
    assert past.text.splitlines()[0] == "هذا اليوم قد مضى. يرجى اختيار اليوم أو يومٍ لاحق."


async def test_the_ticket_list_counts_tickets_with_arabic_plural_forms(harness: Harness) -> None:
    chat = harness.user(3007, language_code="ar")
    await to_walk_in_confirm(chat)
    await chat.tap("✅ تأكيد")
    one = await chat.send("/tickets")
    assert one.text.splitlines()[0] == "لديك تذكرة واحدة:"

    # A while later (an identical walk-in a moment after the first is taken as the same one).
    harness.clock.advance(minutes=5)
    await to_walk_in_confirm(chat)
    await chat.tap("✅ تأكيد")
    two = await chat.send("/tickets")
    assert two.text.splitlines()[0] == "لديك تذكرتان، الأحدث أولًا:"
    assert all(ISOLATED_NUMBER.search(label) for row in two.buttons[:2] for label in row)
