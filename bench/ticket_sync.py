"""What a vendor backend costs the employee, and how fast the outbox drains, per vendor fake.

For each vendor (ServiceNow, Jira Service Management, ConnectWise: their loopback fakes on 127.0.0.1,
answering after ``--latency`` seconds like a distant SaaS instance; spec checks off) and a file-backed
SQLite database:

- **create, as the employee waits for it**: ``SyncedTicketing.create`` (the mirror and the outbox in one
  transaction; the worker sends it later) against ``connector.create`` straight to the vendor (what a
  connector without an outbox would make the employee wait for).
- **drain**: ``--tickets`` tickets opened while the vendor was down, each with a comment and a state
  change (3 outbox items per ticket), then ``Syncer.push()`` once the vendor is back: items per second,
  and the time per item (median, p95).
- **pull**: one ``Syncer.pull()`` after staff commented on every ticket (the poll, the comment fetches,
  the mirror writes and the conversation notices are in it).

Usage: .venv/bin/python bench/ticket_sync.py [--tickets 40] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from _common import save, summary
from firstline.testing.connectwise_fake import FakeConnectWise
from firstline.testing.jira_fake import FakeJira
from firstline.testing.servicenow_fake import FakeServiceNow
from firstline.testing.ticketing import new_ticket
from firstline.ticketing import SqlTicketing, TicketState, TicketUpdate
from firstline.ticketing.connectors.connectwise import ConnectWiseConnector, ConnectWiseOptions
from firstline.ticketing.connectors.jira import JiraConnector, JiraOptions
from firstline.ticketing.connectors.servicenow import ServiceNowConnector, ServiceNowOptions
from firstline.ticketing.remote import TicketConnector
from firstline.ticketing.sync import Syncer
from firstline.ticketing.synced import SyncedTicketing


def servicenow(fake: Any) -> TicketConnector:
    options = ServiceNowOptions(url=fake.url, user=fake.user, password=fake.password)
    return ServiceNowConnector(options, transport=httpx.HTTPTransport())


def jira(fake: Any) -> TicketConnector:
    options = JiraOptions(url=fake.url, email=fake.email, api_token=fake.api_token, project_key="HELP",
                          service_desk_id="1", request_type_id="10")  # fmt: skip
    return JiraConnector(options, transport=httpx.HTTPTransport())


def connectwise(fake: Any) -> TicketConnector:
    options = ConnectWiseOptions(
        url=fake.url, company=fake.company, public_key=fake.public_key, private_key=fake.private_key,
        client_id=fake.client_id, board=fake.board, company_identifier=fake.customer, member=fake.member,
    )  # fmt: skip
    return ConnectWiseConnector(options)


VENDORS: dict[str, tuple[Callable[[], Any], Callable[[Any], TicketConnector]]] = {
    "servicenow": (lambda: FakeServiceNow(spec_checks=False, page_size=100), servicenow),
    "jira": (lambda: FakeJira(spec_checks=False, page_size=100), jira),
    "connectwise": (FakeConnectWise, connectwise),
}


def slow(server: Any, latency: float) -> None:
    loop = getattr(server, "_server", None) or getattr(server, "server", None)
    loop.delay = latency


def one_vendor(name: str, tickets_n: int, latency: float, folder: Path) -> dict[str, Any]:
    start, connect = VENDORS[name]
    with start() as fake:
        slow(fake, latency)
        tickets = SyncedTicketing(SqlTicketing(f"sqlite:///{folder / f'{name}.db'}"), connect(fake))
        syncer = Syncer(tickets)
        direct = connect(fake)
        mirror_ms, vendor_ms = [], []
        for i in range(10):
            began = time.perf_counter()
            tickets.create(new_ticket(short_description=f"warm {i}"))
            mirror_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            direct.create(tickets.mirror.create(new_ticket(short_description=f"direct {i}")))
            vendor_ms.append((time.perf_counter() - began) * 1000)
        syncer.push()
        numbers = []
        for i in range(tickets_n):
            number = tickets.create(new_ticket(short_description=f"VPN drops, report {i}")).number
            tickets.comment(number, f"Restarted the client ({i}).", "firstline")
            tickets.update(number, TicketUpdate(state=TicketState.IN_PROGRESS), "firstline")
            numbers.append(number)
        items = tickets.outbox.counts().get("pending", 0)
        per_item: list[float] = []
        began = time.perf_counter()
        while True:
            item_began = time.perf_counter()
            report = syncer.push(limit=1)
            if report.sent == 0:
                break
            per_item.append((time.perf_counter() - item_began) * 1000)
        drain_s = time.perf_counter() - began
        for number in numbers:
            ref = tickets.remote(number)
            assert ref is not None
            fake.staff_comment(ref.number, "Looking at it now.")
        began = time.perf_counter()
        events = syncer.pull()
        pull_s = time.perf_counter() - began
        tickets.close()
        direct.close()
        return {
            "create_employee_waits": summary(mirror_ms),
            "create_direct_to_vendor": summary(vendor_ms),
            "wait_ratio_direct_over_outbox": round(
                summary(vendor_ms)["median_ms"] / max(summary(mirror_ms)["median_ms"], 1e-6), 1
            ),
            "drain": {
                "items": items,
                "seconds": round(drain_s, 2),
                "items_per_s": round(items / drain_s, 1),
                "per_item": summary(per_item),
            },
            "pull": {"tickets": tickets_n, "seconds": round(pull_s, 2), "events": len(events)},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each vendor answer is held back")
    args = parser.parse_args()
    results: dict[str, Any] = {"tickets": args.tickets, "latency_s": args.latency, "vendors": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in VENDORS:
            results["vendors"][name] = one_vendor(name, args.tickets, args.latency, Path(folder))
            print(name, results["vendors"][name], flush=True)
    print(save("ticket_sync", results))


if __name__ == "__main__":
    main()
