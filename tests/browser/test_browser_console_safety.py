"""The agent console shows bidi controls and invisible characters in tickets as visible badges, never as HTML."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from firstline.ticketing import NewTicket, SqlTicketing

pytestmark = [pytest.mark.live, pytest.mark.slow]

expect.set_options(timeout=30_000)

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_a_spoofing_ticket_title_shows_its_hidden_characters(pages: Any, live: Any) -> None:
    tickets = SqlTicketing(live.settings.ticket_database_url)
    try:
        ticket = tickets.create(
            NewTicket(
                requester="ruby.chen@nwmeridian.co.uk",
                short_description="invoice \u202eexe.txt <img src=x onerror=alert(1)>",
                description="open the attachment\u2066 now\u2069\x1b[2J",
                assignment_group="Service Desk\u200b",
            )
        )
        tickets.comment(ticket.number, "see \u202dfdp.exe", "ruby.chen@nwmeridian.co.uk")
    finally:
        tickets.close()

    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#queue")
    row = agent.locator("tr", has_text=ticket.number)
    expect(row).to_contain_text("invoice ⟨U+202E⟩exe.txt")
    expect(row).to_contain_text("Service Desk⟨U+200B⟩")

    agent.goto(f"/console#ticket/{ticket.number}")
    heading = agent.locator("h1")
    expect(heading).to_contain_text("invoice ⟨U+202E⟩exe.txt <img src=x onerror=alert(1)>")
    expect(heading.locator(".hidden-char")).to_have_attribute(
        "title", "Hidden character U+202E: right-to-left override"
    )
    assert heading.locator("img").count() == 0  # text, never HTML
    expect(agent.get_by_text("open the attachment")).to_contain_text("attachment⟨U+2066⟩ now⟨U+2069⟩⟨U+001B⟩[2J")
    expect(agent.locator(".history")).to_contain_text("see ⟨U+202D⟩fdp.exe")
    rendered = agent.locator("#view").inner_text()
    assert not any(c in rendered for c in BIDI + "\x1b\u200b"), ascii(rendered)
    pages.shot(agent, "console-ticket-hidden-characters")
    assert pages.dialogs == []


def test_visible_leaves_ordinary_text_and_emoji_alone(pages: Any) -> None:
    page = pages.new()
    pages.sign_in(page, "agent", "/console#queue")
    shown = page.evaluate(
        """async () => {
            const { visible } = await import("/static/console-text.js");
            const render = (text) => visible(text).map((n) => (typeof n === "string" ? n : n.textContent)).join("");
            return [render("café · مرحبا · 👩\\u200d💻\\n\\ttab"), render("a\\u202eb\\u{e0041}"), render(null)];
        }"""
    )
    assert shown == ["café · مرحبا · 👩\u200d💻\n\ttab", "a⟨U+202E⟩b⟨U+E0041⟩", ""]
