"""The employee web chat in a real browser against the real service."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.live, pytest.mark.slow]

expect.set_options(timeout=30_000)


def _last_assistant(page: Any) -> Any:
    return page.locator(".msg.assistant").last


def test_answer_streams_with_citations_and_a_problem_gets_a_ticket(pages: Any, send: Callable[..., None]) -> None:
    page = pages.new()
    pages.sign_in(page, "requester3")
    expect(page.locator("#who")).to_contain_text("Signed in as")
    pages.shot(page, "signed-in")

    with page.expect_response(re.compile(r"/v1/conversations/[^/]+/messages$")) as answer:
        send(page, "How do I add a shared mailbox in Outlook?")
    response = answer.value
    assert response.headers["content-type"].startswith("text/event-stream")
    body = response.text()
    assert body.count("event: token") > 1, "the reply should arrive as several token events"
    assert "event: done" in body
    link = _last_assistant(page).locator(".citations a").first
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    assert re.match(r"^/kb/[^#/?]+", href), f"a citation should link to a runbook page, got {href!r}"
    expect(link).to_contain_text("shared mailbox")
    pages.shot(page, "answer-with-citation")
    runbook = page.request.get(href)
    assert runbook.status == 200, f"GET {href} -> {runbook.status}"

    page.get_by_role("button", name="New conversation").click()
    send(page, "My VPN keeps disconnecting every few minutes")
    card = page.locator("#ticket-card")
    expect(card).to_be_visible()
    expect(page.locator("#ticket-number")).to_have_text(re.compile(r"^INC\d{7}$"))
    expect(page.locator("#ticket-priority")).to_have_text(re.compile(r"^P[1-5]$"))
    expect(_last_assistant(page)).not_to_be_empty()
    pages.shot(page, "ticket-card")


def test_locked_account_is_unlocked_after_the_code_from_the_demo_phone(
    pages: Any, send: Callable[..., None], read_code: Callable[..., str]
) -> None:
    page = pages.new()
    pages.sign_in(page, "requester")  # ruby.chen: her directory account is locked
    send(page, "I'm locked out of my account, it says too many attempts")
    expect(_last_assistant(page)).to_contain_text("code")
    expect(page.locator("#input-hint")).to_contain_text("code")
    expect(page.locator("#ticket-number")).to_have_text(re.compile(r"^INC\d+"))
    phone = page.locator("#phone")
    expect(phone).to_be_visible()
    expect(phone).to_contain_text("Demo stand-in for SMS")
    code = read_code(page)
    pages.shot(page, "code-on-demo-phone")

    # A person selecting the code to copy it keeps the selection while the phone polls an unchanged outbox:
    # the phone reads the outbox again each time it opens, and the same node (with its selection) stays.
    node = page.locator("#phone .sms .code").first
    node.evaluate("n => { n.dataset.held = 'yes'; getSelection().selectAllChildren(n); }")
    with page.expect_response(re.compile(r"/v1/demo/outbox$")):
        page.locator("#phone").evaluate("d => { d.open = false; d.open = true; }")
    page.wait_for_timeout(100)  # let the page handle the answer it just received
    expect(page.locator("#phone .sms .code").first).to_have_attribute("data-held", "yes")
    assert page.evaluate("String(getSelection())").strip() == code

    send(page, code)
    expect(_last_assistant(page)).to_contain_text("unlocked")
    expect(page.locator("#ticket-state")).to_have_text("Resolved")
    pages.shot(page, "unlocked-and-resolved")


def test_html_is_text_long_pastes_are_refused_and_an_expired_session_keeps_the_draft(
    pages: Any, send: Callable[..., None]
) -> None:
    page = pages.new()
    pages.sign_in(page, "requester3")
    hostile = "<img src=x onerror=alert(1)>"
    send(page, hostile)
    expect(page.locator(".msg.user .body").last).to_have_text(hostile)
    expect(page.locator(".msg.assistant").last).to_be_visible()
    assert page.locator("#messages img").count() == 0
    assert pages.dialogs == []
    pages.shot(page, "html-as-text")

    box = page.get_by_label("Message to the IT helpdesk")
    sent_before = page.locator(".msg.user").count()
    box.focus()
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.setData("text/plain", "x".repeat(9000));
            const box = document.getElementById("message");
            box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
        }"""
    )
    expect(page.locator("#input-error")).to_contain_text("8,000")
    expect(box).to_have_value("")
    expect(page.locator("#counter")).to_have_text("0 / 8000")
    pages.shot(page, "long-paste-refused")
    box.press("Enter")
    expect(page.locator("#input-error")).to_contain_text("Type a message first")
    assert page.locator(".msg.user").count() == sent_before

    draft = "My printer on floor 3 prints blank pages"
    box.fill(draft)
    page.wait_for_timeout(1000)  # My requests refreshes shortly after a reply: let it finish signed in
    page.context.clear_cookies()
    box.press("Enter")
    page.wait_for_url(re.compile(r"/login\?next=%2F$"))
    pages.shot(page, "session-expired")
    email, password = pages.live.accounts["requester3"]
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(pages.live.base_url + "/")
    expect(page.get_by_label("Message to the IT helpdesk")).to_have_value(draft)
    expect(page.locator("#draft-note")).to_contain_text("kept")
    expect(page.locator(".msg.user .body").first).to_have_text(hostile)  # the conversation continues too
    pages.shot(page, "draft-restored")


def test_phone_width_and_keyboard(pages: Any, send: Callable[..., None]) -> None:
    page = pages.new(width=375, height=740)
    pages.sign_in(page, "requester3")
    expect(page.locator(".chat-layout")).not_to_have_attribute("aria-busy", "true")  # the chat has loaded
    back = page.get_by_role("button", name="Back to the chat")  # a new session on a phone opens on My requests
    if back.is_visible():
        back.click()
    send(page, "My laptop fan is very loud " + "x" * 200)
    expect(page.locator(".msg.assistant").last).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    pages.shot(page, "phone-width")

    page.locator(".brand").click()  # start keyboard navigation from the top of the page
    reached: list[str] = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
        if reached[-1] == "send":
            break
    assert "message" in reached and "send" in reached, reached
    assert reached.index("message") < reached.index("send")
    expect(page.get_by_role("textbox", name="Message to the IT helpdesk")).to_have_attribute("maxlength", "8000")
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    expect(page.get_by_role("log")).to_have_attribute("aria-live", "polite")
    page.get_by_label("Message to the IT helpdesk").focus()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.get_by_label("Message to the IT helpdesk")).to_have_value("first line\nsecond line")
    pages.shot(page, "keyboard")


def test_a_message_sent_while_my_requests_still_load_stays_with_its_conversation(
    pages: Any, send: Callable[..., None]
) -> None:
    first = pages.new()
    pages.sign_in(first, "requester2")
    send(first, "My VPN keeps disconnecting every few minutes")  # now they have a request to list
    expect(first.locator(".msg.assistant").last).to_be_visible()
    page = pages.new()  # a new session: once My requests is listed, an empty chat offers them
    held: list[Any] = []
    page.route(re.compile(r"/v1/conversations\?limit="), lambda route: held.append(route))  # a slow list
    pages.sign_in(page, "requester2")
    text = "the printer on my floor says offline"
    send(page, text)
    expect(page.locator(".msg.assistant").last).to_be_visible()
    for route in held:
        route.continue_()
    page.unroute(re.compile(r"/v1/conversations\?limit="))
    expect(page.locator(".chat-layout")).not_to_have_attribute("aria-busy", "true")  # the page finished loading
    expect(page.locator(".msg.user .body").last).to_have_text(text)  # the turn is still on screen
    expect(page.locator(".request.current .request-title")).to_have_text(text)  # and its conversation current
