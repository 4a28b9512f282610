"""The agent console in a real browser: approvals reaching the employee live, analytics and knowledge pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.live, pytest.mark.slow]

expect.set_options(timeout=30_000)


def test_agent_approval_reaches_the_employee_without_a_reload(
    pages: Any, send: Callable[..., None], read_code: Callable[..., str]
) -> None:
    employee = pages.new()
    pages.sign_in(employee, "requester2")  # marcus.bell
    send(employee, "I lost my work iPhone on the train home last night")
    send(employee, read_code(employee))
    banner = employee.locator("#approval-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Waiting for approval by the IT team")
    number = employee.locator("#ticket-number").inner_text()
    employee.evaluate("window.__notReloaded = true")
    replies_before = employee.locator(".msg.assistant").count()
    pages.shot(employee, "employee-waiting")

    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#approvals")
    row = agent.locator("[data-approval]", has_text=number)
    expect(row).to_be_visible()
    expect(row).to_contain_text("remote_lock")
    pages.shot(agent, "console-approvals")
    row.get_by_role("button", name="Approve").click()
    expect(agent.get_by_role("status").first).to_contain_text("Approved")
    pages.shot(agent, "console-approved")

    expect(banner).to_be_hidden()
    expect(employee.locator(".msg.assistant")).to_have_count(replies_before + 1)
    expect(employee.locator(".msg.assistant").last).to_contain_text("remote lock")
    expect(employee.locator(".system-line").last).to_contain_text("approved")
    expect(employee.locator("#ticket-state")).not_to_have_text("On hold")
    assert employee.evaluate("window.__notReloaded") is True
    pages.shot(employee, "employee-after-approval")

    agent.goto(f"/console#ticket/{number}")
    expect(agent.locator("h1")).to_contain_text(number)
    tool = agent.locator("details.tool-call", has_text="report_lost_device").first
    tool.locator("summary").click()
    expect(tool.locator(".tool-arguments")).to_contain_text("NW-M-")
    expect(tool.locator(".tool-result")).to_be_visible()
    expect(agent.locator(".transcript")).to_contain_text("Approved by")
    pages.shot(agent, "console-ticket")


def test_console_analytics_and_knowledge_pages(pages: Any, tmp_path: Any) -> None:
    admin = pages.new()
    pages.sign_in(admin, "admin", "/console#analytics")
    expect(admin.locator("h1")).to_have_text("Analytics")
    for metric in ("deflection_rate", "escalation_rate", "median_time_to_resolution_s", "cost_per_conversation_usd"):
        card = admin.locator(f"[data-metric={metric}]")
        expect(card.locator(".value")).not_to_be_empty()
        expect(card.locator(".definition")).not_to_be_empty()
    expect(admin.get_by_role("heading", name="How the other numbers are computed")).to_be_visible()
    expect(admin.locator("svg.chart, .panel .hint").first).to_be_visible()
    pages.shot(admin, "analytics")

    admin.get_by_role("link", name="Knowledge").click()
    expect(admin.locator("h1")).to_have_text("Knowledge base")
    documents = admin.get_by_role("table", name="Ingested documents")
    expect(documents.locator("tbody tr").first).to_be_visible()
    pages.shot(admin, "knowledge")
    runbook = tmp_path / "kiosk-printer-howto.md"
    runbook.write_text("# Kiosk printer\n\n## Steps\n\nPress the green button on the lobby kiosk printer.\n")
    admin.get_by_label("Runbook file (.md, .txt, .html, .pdf)").set_input_files(str(runbook))
    admin.get_by_role("button", name="Upload").click()
    report = admin.get_by_role("table", name="What changed")
    expect(report).to_contain_text("Added")
    expect(report.locator("tr", has_text="Added")).to_contain_text("1")
    pages.shot(admin, "knowledge-uploaded")
    admin.get_by_role("button", name="Re-ingest all").click()
    expect(admin.get_by_text("What changed (re-ingest)")).to_be_visible()
    expect(report).to_contain_text("Unchanged")
    pages.shot(admin, "knowledge-reingested")

    agent = pages.new()
    pages.sign_in(agent, "agent", "/console#knowledge")
    expect(agent.get_by_role("button", name="Re-ingest all")).to_be_disabled()
    expect(agent.get_by_text("Only admins can upload or re-ingest runbooks.")).to_be_visible()
    pages.shot(agent, "knowledge-agent")

    employee = pages.new()
    pages.sign_in(employee, "requester3", "/console")
    expect(employee.locator("h1")).to_have_text("Not allowed")
    expect(employee.get_by_role("link", name="Go to the chat")).to_have_attribute("href", "/")
    pages.shot(employee, "console-not-allowed")
