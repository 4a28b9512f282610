"""The agent workspace in Chromium: the queue and approvals keep up live (SSE, no reload, count badges), assign to
me, sortable columns, filters kept in the URL, a clear message when a colleague decided first, analytics
definitions printed once, Markdown in the transcript, and knowledge files that fail say why and can be removed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from firstline.ticketing import Impact, NewTicket, SqlTicketing, Urgency

pytestmark = [pytest.mark.live, pytest.mark.slow]

expect.set_options(timeout=30_000)
CSRF = {"X-Requested-With": "firstline"}


@contextmanager
def _api(live: Any, who: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in as ``who`` (its own session cookie), for what happens outside the browser."""
    email, password = live.accounts[who]
    with httpx.Client(base_url=live.base_url, headers=CSRF, timeout=60) as client:
        response = client.post("/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        yield client


def _pending_approval(live: Any, who: str) -> tuple[str, str]:
    """``who`` reports a lost phone and proves who they are: (approval id, ticket number) waiting for the desk."""
    with _api(live, who) as client:
        cid = client.post("/v1/conversations", json={}).json()["conversation_id"]
        first = client.post(f"/v1/conversations/{cid}/messages", json={"text": "I lost my work iPhone on the bus"})
        assert first.status_code == 200, first.text
        code = client.get("/v1/demo/outbox").json()["messages"][0]["code"]  # newest first
        reply = client.post(f"/v1/conversations/{cid}/messages", json={"text": code}).json()
    assert reply["approval"] and reply["approval"]["status"] == "pending", reply
    return reply["approval"]["id"], reply["ticket"]["number"]


def _badge(page: Any, tab: str) -> int:
    return int(page.locator(f"#tabs [data-tab={tab}] .count").get_attribute("data-count") or 0)


def test_the_queue_updates_live_with_its_count_badge(pages: Any, live: Any) -> None:
    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#queue")
    expect(agent.locator("#tabs [data-tab=queue] .count")).to_have_attribute("data-count", re.compile(r"^\d+$"))
    before = _badge(agent, "queue")
    agent.evaluate("window.__notReloaded = true")
    pages.shot(agent, "queue-before")

    with _api(live, "requester3") as employee:
        reply = employee.post("/v1/ask", json={"text": "My monitor flickers"})
    assert reply.status_code == 200 and reply.json()["ticket"], reply.text
    number = reply.json()["ticket"]["number"]

    expect(agent.locator("tr", has_text=number)).to_be_visible()  # no reload, no polling: the SSE notice
    expect(agent.locator("#tabs [data-tab=queue] .count")).to_have_attribute("data-count", str(before + 1))
    expect(agent.locator("tr", has_text=number).locator("td.requester")).to_contain_text("Ben Carter")
    assert agent.evaluate("window.__notReloaded") is True
    pages.shot(agent, "queue-after")


def test_assign_to_me_shows_in_the_assignee_column(pages: Any, live: Any) -> None:
    with _api(live, "requester3") as employee:
        number = employee.post("/v1/ask", json={"text": "My laptop won't turn on"}).json()["ticket"]["number"]
    agent = pages.new()
    pages.sign_in(agent, "agent", f"/console#queue?q={number}")
    row = agent.locator("tr", has_text=number)
    expect(row.locator("td.assignee")).to_have_text("—")
    row.get_by_role("button", name=f"Assign {number} to me").click()
    expect(row.locator("td.assignee")).to_have_text("Sarah Lindqvist")
    expect(row.get_by_role("button", name=f"Assign {number} to me")).to_have_count(0)
    pages.shot(agent, "assigned-to-me")

    # A colleague's console hears of it and hands it over from the ticket page.
    colleague = pages.new()
    pages.sign_in(colleague, "agent2", f"/console#ticket/{number}")
    expect(colleague.locator(".assignee")).to_contain_text("Sarah Lindqvist")
    colleague.get_by_label("A colleague's e-mail").fill(live.accounts["agent2"][0])
    colleague.get_by_role("button", name="Assign to colleague").click()
    expect(colleague.locator(".assignee")).to_contain_text("Ravi Chandran")
    expect(row.locator("td.assignee")).to_have_text("Ravi Chandran")  # the first console refreshed live
    colleague.get_by_label("A colleague's e-mail").fill(live.accounts["requester"][0])
    colleague.get_by_role("button", name="Assign to colleague").click()
    expect(colleague.get_by_role("alert").filter(has_text="not an active IT agent")).to_be_visible()
    pages.shot(colleague, "assign-refused")


def test_sorting_by_clicking_a_header(pages: Any, live: Any) -> None:
    tickets = SqlTicketing(live.settings.ticket_database_url)
    try:  # one ticket per priority, created out of order
        for impact, urgency in [(Impact.LOW, Urgency.MEDIUM), (Impact.HIGH, Urgency.HIGH), (Impact.LOW, Urgency.LOW)]:
            tickets.create(NewTicket(requester=live.accounts["requester3"][0], short_description="sort me",
                                     impact=impact, urgency=urgency))  # fmt: skip
    finally:
        tickets.close()
    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#queue")
    expect(agent.locator("table.queue tbody tr").first).to_be_visible()
    header = agent.locator("th", has=agent.get_by_role("button", name="Priority"))
    expect(header).to_have_attribute("aria-sort", "none")
    expect(agent.locator("th", has=agent.get_by_role("button", name="Opened"))).to_have_attribute(
        "aria-sort", "descending"
    )
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(agent).to_have_url(re.compile(r"#queue\?sort=priority&order=asc$"))
    shown = [int(t.strip("P")) for t in agent.locator("table.queue tbody tr td:nth-child(2)").all_inner_texts()]
    assert shown == sorted(shown) and {1, 5} <= set(shown), shown
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(agent).to_have_url(re.compile(r"order=desc$"))
    shown = [int(t.strip("P")) for t in agent.locator("table.queue tbody tr td:nth-child(2)").all_inner_texts()]
    assert shown == sorted(shown, reverse=True), shown
    pages.shot(agent, "sorted-by-priority")


def test_filters_survive_a_reload_and_back_through_the_url(pages: Any) -> None:
    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#queue")
    expect(agent.locator("table.queue tbody tr").first).to_be_visible()
    agent.get_by_label("Specialist").fill("Devices")  # the name shown for `device`, capitalised
    agent.get_by_role("button", name="Apply").click()
    expect(agent).to_have_url(re.compile(r"#queue\?specialist=Devices$"))
    specialists = agent.locator("table.queue tbody tr td:nth-child(7)")
    expect(specialists.first).to_have_text("Devices")
    assert set(specialists.all_inner_texts()) == {"Devices"}

    agent.reload()
    expect(agent.get_by_label("Specialist")).to_have_value("Devices")
    expect(specialists.first).to_have_text("Devices")
    assert set(specialists.all_inner_texts()) == {"Devices"}
    pages.shot(agent, "filter-after-reload")

    copied = pages.new()  # a copied URL opens the same view
    pages.sign_in(copied, "agent2", "/console#queue?specialist=devices&sort=priority")
    expect(copied.get_by_label("Specialist")).to_have_value("devices")
    expect(copied.locator("th", has=copied.get_by_role("button", name="Priority"))).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert set(copied.locator("table.queue tbody tr td:nth-child(7)").all_inner_texts()) == {"Devices"}

    agent.go_back()
    expect(agent.get_by_label("Specialist")).to_have_value("")
    expect(agent).to_have_url(re.compile(r"#queue$"))


def test_a_decision_a_colleague_made_first_is_explained(pages: Any, live: Any) -> None:
    approval, number = _pending_approval(live, "requester")
    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#approvals")
    row = agent.locator(f"[data-approval='{approval}']")
    expect(row).to_be_visible()
    expect(agent.locator("#tabs [data-tab=approvals] .count")).not_to_have_attribute("data-count", "0")
    ticket_page = pages.new()
    pages.sign_in(ticket_page, "agent", f"/console#ticket/{number}")
    expect(ticket_page.get_by_role("heading", name="Waiting for your approval")).to_be_visible()
    pending = _badge(agent, "approvals")

    with _api(live, "agent2") as colleague:
        denied = colleague.post(f"/v1/approvals/{approval}/deny", json={"reason": "phone found at reception"})
    assert denied.status_code == 200, denied.text

    expect(row).to_have_count(0)  # the approvals list refreshed live
    expect(agent.locator("#tabs [data-tab=approvals] .count")).to_have_attribute("data-count", str(pending - 1))
    ticket_page.get_by_role("button", name="Approve").click()
    notice = ticket_page.locator("#ticket-notice")
    expect(notice).to_contain_text("Ravi Chandran already denied this at ")
    expect(notice).to_contain_text("phone found at reception")
    expect(ticket_page.get_by_role("heading", name="Waiting for your approval")).to_have_count(0)
    pages.shot(ticket_page, "already-decided")


def test_analytics_prints_each_definition_once(pages: Any) -> None:
    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#analytics")
    expect(agent.locator("[data-metric=deflection_rate] .definition")).not_to_be_empty()
    definitions = agent.locator("[data-definition]")
    expect(definitions.first).to_be_visible()
    keys = [d.get_attribute("data-definition") for d in definitions.all()]
    texts = definitions.all_inner_texts()
    assert len(keys) == len(set(keys)) >= 10, keys
    body = agent.locator("#view").inner_text()
    assert all(body.count(text) == 1 for text in texts), [t for t in texts if body.count(t) != 1]
    pages.shot(agent, "analytics-once")


def test_the_transcript_renders_markdown_not_asterisks(pages: Any, live: Any) -> None:
    with _api(live, "requester3") as employee:
        number = employee.post("/v1/ask", json={"text": "My monitor flickers"}).json()["ticket"]["number"]
    comment = "Please try **another cable** first:\n\n- unplug the monitor\n- plug it back in\n\nSee `cable.md`."
    with _api(live, "agent2") as colleague:  # a public comment reaches the employee's conversation as Markdown
        assert colleague.post(f"/v1/tickets/{number}/comments", json={"body": comment}).status_code == 201
    agent = pages.new()
    pages.sign_in(agent, "agent", f"/console#ticket/{number}")
    told = agent.locator(".transcript .msg.assistant .md", has_text="another cable")
    expect(told).to_be_visible()
    expect(told.locator("strong")).to_have_text("another cable")
    expect(told.locator("li")).to_have_count(2)
    expect(told.locator("code")).to_have_text("cable.md")
    assert "**" not in agent.locator(".transcript").inner_text()
    pages.shot(agent, "transcript-markdown")


def test_a_failed_upload_says_why_and_can_be_removed(pages: Any, tmp_path: Any) -> None:
    admin = pages.new()
    pages.sign_in(admin, "admin", "/console#knowledge")
    broken = tmp_path / "scanned-policy.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a readable pdf")
    admin.get_by_label("Runbook file (.md, .txt, .html, .pdf)").set_input_files(str(broken))
    admin.get_by_role("button", name="Upload").click()
    alert = admin.get_by_role("alert").filter(has_text="scanned-policy.pdf could not be ingested")
    expect(alert).to_contain_text("PDF")
    assert "/uploads" not in alert.inner_text() and str(tmp_path) not in alert.inner_text()
    failed = admin.locator("[data-failed='scanned-policy.pdf']")
    expect(failed).to_contain_text("Could not be parsed")
    pages.shot(admin, "upload-failed")

    admin.get_by_role("button", name="Re-ingest all").click()
    report = admin.get_by_role("table", name="What changed")
    expect(report.locator("tr", has_text="Still failing")).to_contain_text("scanned-policy.pdf")
    expect(report.locator("tr", has_text=re.compile(r"^Failed"))).to_contain_text("0")
    expect(admin.get_by_role("button", name="Re-ingest all")).to_be_enabled()  # the lists below are re-read

    failed.get_by_role("button", name="Remove scanned-policy.pdf").click()
    failed.get_by_role("button", name="Confirm removal of scanned-policy.pdf").click()
    expect(failed).to_have_count(0)
    expect(report.locator("tr", has_text="Removed")).to_contain_text("scanned-policy.pdf")
    pages.shot(admin, "upload-removed")
