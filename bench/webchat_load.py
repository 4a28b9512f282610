"""First page load of the web chat in a real browser on loopback, and every request it makes.

The issue's target: a first page load of the web chat under 1 s on loopback, with no request leaving
the machine.

The server is the real one (``live_service`` in a child process, as in ``bench/load.py``). The browser
is Debian's Chromium driven by Playwright (headless, background networking, component updates, sync
and QUIC off). Every load is a fresh browser context: no HTTP cache, no storage; the browser process
itself stays up (its start is not part of a page load). Three pages, ``--repeats`` times each after one
unrecorded warm-up load:

- ``login``: ``/login`` -> the sign-in form is usable (the e-mail box has the focus).
- ``chat_signed_in``: ``/`` with a session cookie (signed in once through the API, then the cookie
  is put into each cold context) -> the chat is usable: ``/v1/me`` has answered ("Signed in as ..."
  shown), the message box has the focus and Send is enabled.
- ``chat_signed_out``: ``/`` without a cookie -> the page finds out (401) and goes to
  ``/login?next=/`` -> the sign-in form is usable.

Times come from the page's own clock (``performance``; 0 = navigation start): the load event end
(``loadEventEnd``) and the moment the page is usable (``performance.now()`` when the check first
passed, polled every animation frame). For ``chat_signed_out`` they are taken on the login document
and shifted by the gap between the two documents' time origins (an init script keeps the first
document's ``performance.timeOrigin`` in sessionStorage), so they count from the first navigation.
Every request of the context is recorded (``context.on("request")``) and sorted into
loopback (``http://127.0.0.1:PORT``) and anything else (must be 0).

Usage: .venv/bin/python bench/webchat_load.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from _common import ROOT, save
from firstline.testing.browser import CHROMIUM, CHROMIUM_ARGS
from load import LIMITS, ServerProcess, dist

STATIC = ROOT / "src" / "firstline" / "service" / "static"

# JavaScript predicates: true once the page is usable.
LOGIN_READY = """() => {
  const email = document.getElementById('email');
  const submit = document.getElementById('login-submit');
  return location.pathname === '/login' && document.readyState === 'complete' && email && submit
    && !submit.disabled && document.activeElement === email && email.getBoundingClientRect().height > 0;
}"""
CHAT_READY = """() => {
  const who = document.getElementById('who');
  const box = document.getElementById('message');
  const send = document.getElementById('send');
  return document.readyState === 'complete' && who && who.textContent.trim().length > 0 && box && send
    && !send.disabled && !box.disabled && document.activeElement === box && box.getBoundingClientRect().height > 0;
}"""
# Wait until the predicate holds; answer the page's clock at that moment, its navigation and resource timings,
# and how long after the first document's navigation start this document's started (0 without a redirect).
MEASURE = """async () => {
  const check = %s;
  while (!check()) await new Promise((resolve) => requestAnimationFrame(resolve));
  const usable = performance.now();
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const first = Number(sessionStorage.getItem('bench.timeOrigin') || performance.timeOrigin);
  return {
    usable_ms: usable,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    load_ms: nav.loadEventEnd,
    offset_ms: performance.timeOrigin - first,
    resources: resources.length,
    transfer_bytes: resources.reduce((n, r) => n + (r.transferSize || 0), nav.transferSize || 0),
  };
}"""
# In every document before its own scripts: remember the first document's time origin (same tab, same origin).
REMEMBER_ORIGIN = """if (!sessionStorage.getItem('bench.timeOrigin'))
  sessionStorage.setItem('bench.timeOrigin', String(performance.timeOrigin));"""


def one_load(
    browser: Browser, url: str, ready_js: str, base: str, cookies: list[dict[str, Any]], redirect_to: str | None = None
) -> dict[str, Any]:
    """One cold load of ``url`` in a fresh context; times from the page's clock plus the requests it made."""
    context = browser.new_context(service_workers="block")
    if cookies:
        context.add_cookies(cookies)
    context.add_init_script(REMEMBER_ORIGIN)
    requests: list[str] = []
    failed: list[str] = []
    statuses: list[tuple[int, str]] = []
    context.on("request", lambda r: requests.append(r.url))
    context.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    context.on("response", lambda r: statuses.append((r.status, r.url)))
    page: Page = context.new_page()
    started = time.perf_counter()
    try:
        page.goto(url, wait_until="commit", timeout=30_000)
        if redirect_to:
            page.wait_for_url(f"**{redirect_to}**", timeout=30_000)
        timing = page.evaluate(MEASURE % ready_js)
        wall_ms = (time.perf_counter() - started) * 1000
        final_url = page.url
    finally:
        context.close()
    local = [u for u in requests if u.startswith(base + "/") or u == base]
    external = [u for u in requests if u not in local and not u.startswith(("data:", "blob:", "about:"))]
    offset = timing["offset_ms"]
    return {
        "load_ms": round(timing["load_ms"] + offset, 1),
        "usable_ms": round(timing["usable_ms"] + offset, 1),
        "dom_content_loaded_ms": round(timing["dom_content_loaded_ms"] + offset, 1),
        "wall_ms": round(wall_ms, 1),
        "redirect_offset_ms": round(offset, 1),
        "final_url": final_url.removeprefix(base),
        "requests": len(requests),
        "external_requests": external,
        "failed_requests": failed,
        "http_errors": [f"{s} {u.removeprefix(base)}" for s, u in statuses if s >= 400],
        "resources": timing["resources"],
        "transfer_bytes": timing["transfer_bytes"],
        "request_urls": [u.removeprefix(base) for u in requests],
    }


def page_summary(loads: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "load_event": dist([x["load_ms"] for x in loads]),
        "usable": dist([x["usable_ms"] for x in loads]),
        "dom_content_loaded": dist([x["dom_content_loaded_ms"] for x in loads]),
        "wall_from_goto": dist([x["wall_ms"] for x in loads]),
        "under_1s_usable": sum(1 for x in loads if x["usable_ms"] < 1000),
        "requests_per_load": statistics.median(x["requests"] for x in loads),
        "transfer_bytes_median": statistics.median(x["transfer_bytes"] for x in loads),
        "external_requests_total": sum(len(x["external_requests"]) for x in loads),
        "external_examples": sorted({u for x in loads for u in x["external_requests"]})[:10],
        "failed_requests_total": sum(len(x["failed_requests"]) for x in loads),
        "failed_examples": sorted({u for x in loads for u in x["failed_requests"]})[:10],
        "http_errors_seen": sorted({e for x in loads for e in x["http_errors"]})[:10],
        "final_urls": sorted({x["final_url"] for x in loads}),
        "redirect_offset": dist([x["redirect_offset_ms"] for x in loads]),
        "requests_of_one_load": loads[0]["request_urls"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    missing = [name for name in ("chat.html", "chat.js", "login.html", "login.js") if not (STATIC / name).exists()]
    if missing:
        raise SystemExit(f"the web chat is not there yet: {', '.join(missing)} missing from {STATIC}")

    with tempfile.TemporaryDirectory(prefix="firstline-webchat-") as data_dir, ServerProcess(Path(data_dir)) as server:
        base = server.base_url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            # Sign in once through the API; each cold context then gets only the session cookie.
            login_context = browser.new_context()
            email, password = server.accounts["requester2"]
            answer = login_context.request.post(
                f"{base}/v1/auth/login",
                data={"email": email, "password": password},
                headers={"X-Requested-With": "firstline"},
            )
            if not answer.ok:
                raise SystemExit(f"sign-in failed: {answer.status} {answer.text()}")
            cookies = login_context.cookies()
            login_context.close()

            pages = {
                "login": (f"{base}/login", LOGIN_READY, [], None),
                "chat_signed_in": (f"{base}/", CHAT_READY, cookies, None),
                "chat_signed_out": (f"{base}/", LOGIN_READY, [], "/login"),
            }
            results: dict[str, Any] = {}
            for name, (url, ready_js, jar, redirect_to) in pages.items():
                warm_up = one_load(browser, url, ready_js, base, jar, redirect_to)
                loads = [one_load(browser, url, ready_js, base, jar, redirect_to) for _ in range(args.repeats)]
                results[name] = {
                    "url": url.removeprefix(base) or "/",
                    "warm_up_load": {k: v for k, v in warm_up.items() if k != "request_urls"},
                    **page_summary(loads),
                }
                usable = results[name]["usable"]
                print(
                    f"{name}: usable p50 {usable['p50_ms']} ms, p95 {usable['p95_ms']} ms; load event p50 "
                    f"{results[name]['load_event']['p50_ms']} ms; {results[name]['requests_per_load']} requests, "
                    f"external {results[name]['external_requests_total']}",
                    flush=True,
                )
            version = browser.version
            browser.close()

    path = save(
        "webchat_load",
        {
            "target": "first page load of the web chat < 1 s on loopback, no request leaving the machine",
            "browser": f"Chromium {version} (headless, {CHROMIUM})",
            "repeats": args.repeats,
            "cold_context_each_load": True,
            "server_limits": LIMITS,
            "pages": results,
            "verdict": {
                "usable_p95_under_1s": all(r["usable"]["p95_ms"] < 1000 for r in results.values()),
                "zero_external_requests": all(r["external_requests_total"] == 0 for r in results.values()),
            },
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
