"""What the sign-in check and an unlock cost on each directory backend, in time and vendor requests.

Before an unlock the desk reads the requester's person, account, recent sign-in log and devices
(``HelpdeskPolicy.account_refusal``), then the tool unlocks. For the built-in SQLite store and the
Okta and Microsoft Graph fakes (on 127.0.0.1, each answer held back ``--latency`` seconds like a
distant SaaS tenant; spec checks off), this times, per round:

- **check**: the sign-in check for Ruby Chen (own-device failures: unlock allowed) and for David
  Ogunleye (a spray: refused), and how many vendor requests it sent;
- **unlock**: ``unlock_account`` on a locked account (Okta and SQL; Entra ID has no unlock operation).

Usage: .venv/bin/python bench/directory_backends.py [--rounds 20] [--latency 0.03]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from _common import save, summary
from firstline.directory import DirectoryBackend, InMemoryDirectory, SqlDirectory
from firstline.directory.graph import GraphDirectory
from firstline.directory.okta import OktaDirectory
from firstline.helpdesk.policy import HelpdeskPolicy
from firstline.helpdesk.tools import HelpdeskDeps
from firstline.testing.directory import demo_org
from firstline.testing.graph_fake import GraphFake
from firstline.testing.okta_fake import OktaFake
from firstline.ticketing import InMemoryTicketing
from firstline.vendors.receipts import collect_receipts

RUBY, DAVID = "ruby.chen@nwmeridian.co.uk", "david.ogunleye@nwmeridian.co.uk"


def sql(folder: Path, latency: float) -> tuple[DirectoryBackend, Callable[[], None]]:
    directory = SqlDirectory(f"sqlite:///{folder / 'directory.db'}")
    directory.seed(demo_org())
    return directory, directory.close


def okta(folder: Path, latency: float) -> tuple[DirectoryBackend, Callable[[], None]]:
    fake = OktaFake.from_org(demo_org(), spec_checks=False, rate_limit=1_000_000).start()
    fake._server.delay = latency
    directory = OktaDirectory(fake.url, fake.api_token, others=InMemoryDirectory(demo_org()))
    return directory, lambda: (directory.close(), fake.stop())  # type: ignore[func-returns-value]


def graph(folder: Path, latency: float) -> tuple[DirectoryBackend, Callable[[], None]]:
    fake = GraphFake.from_org(demo_org(), page_size=100).start()  # the fake pages by 5 for the tests
    fake._server.delay = latency
    directory = GraphDirectory(
        fake.tenant_id, fake.client_id, fake.client_secret, base_url=fake.base_url, token_url=fake.token_url,
        others=InMemoryDirectory(demo_org()), transport=httpx.HTTPTransport(verify=False),
        lockout_duration=timedelta(hours=24),
    )  # fmt: skip
    return directory, lambda: (directory.close(), fake.stop())  # type: ignore[func-returns-value]


BACKENDS = {"sql": sql, "okta": okta, "graph": graph}


def timed(call: Callable[[], Any]) -> tuple[float, int]:
    with collect_receipts() as receipts:
        started = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(receipts)


def one(name: str, rounds: int, latency: float, folder: Path) -> dict[str, Any]:
    directory, stop = BACKENDS[name](folder, latency)
    try:
        deps, policy = HelpdeskDeps(directory, InMemoryTicketing()), HelpdeskPolicy()
        assert policy.account_refusal(deps, RUBY, "unlock_account") is None
        refusal = policy.account_refusal(deps, DAVID, "unlock_account")
        assert refusal is not None and refusal.category == "possible_attack"
        out: dict[str, Any] = {}
        for who, email in (("own_devices", RUBY), ("spray", DAVID)):
            runs = [timed(lambda e=email: policy.account_refusal(deps, e, "unlock_account")) for _ in range(rounds)]
            out[f"check_{who}_ms"] = summary([ms for ms, _ in runs])
            out[f"check_{who}_requests"] = runs[-1][1]
        if name != "graph":
            unlocks = []
            for _ in range(rounds):
                for _ in range(5):
                    directory.record_failed_login("h.marsh")
                unlocks.append(timed(lambda: directory.unlock_account("h.marsh")))
            out["unlock_ms"] = summary([ms for ms, _ in unlocks])
            out["unlock_requests"] = unlocks[-1][1]
        return out
    finally:
        stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds each vendor answer is held back")
    args = parser.parse_args()
    results: dict[str, Any] = {"rounds": args.rounds, "latency_s": args.latency}
    with tempfile.TemporaryDirectory() as tmp:
        for name in BACKENDS:
            results[name] = one(name, args.rounds, args.latency, Path(tmp))
            print(name, results[name], flush=True)
    save("directory_backends", results)


if __name__ == "__main__":
    main()
