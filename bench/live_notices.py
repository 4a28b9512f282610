"""Time from an IT agent's action to the employee hearing of it: the web chat's live stream and e-mail.

Starts the real service on 127.0.0.1 (SQLite, offline engine) with e-mail notifications on, handing
mail to a local SMTP server. Each round: Ruby Chen reports a lost phone in a new conversation (a
ticket), then an agent posts a public comment on that ticket through the API. Measured from just
before the agent's request to:

- **stream**: the ``conversation`` notice of the told comment arriving on Ruby's open ``GET /v1/events``;
- **mail**: the notification mail reaching the SMTP server (includes the notifier's settle time,
  ``--settle``, which merges the events of one change into one mail).

A new conversation per round keeps the per-conversation coalescing window out of the numbers.
Slack, Teams and the e-mail channel are timed in their tests against loopback fakes (see
docs/channels.md). Usage: .venv/bin/python bench/live_notices.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _common import save, summary
from firstline.testing.live import UNLIMITED, live_service
from firstline.testing.smtp_server import CapturingSmtp

RUBY = "ruby.chen@nwmeridian.co.uk"
SARAH = "sarah.lindqvist@nwmeridian.co.uk"


def listen(base: str, key: str, into: queue.Queue[tuple[dict[str, Any], float]], ready: threading.Event) -> None:
    """Read ``GET /v1/events`` as Ruby and queue each conversation notice with its arrival time."""
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(5.0, read=None))
    with client, client.stream("GET", "/v1/events") as response:
        event = ""
        for line in response.iter_lines():
            if line.startswith("retry:"):
                ready.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "conversation":
                into.put((json.loads(line[6:]), time.perf_counter()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with CapturingSmtp() as smtp, tempfile.TemporaryDirectory() as data:
        notifications = {"email": True, "smtp": {"host": smtp.host, "port": smtp.port}}
        with live_service(Path(data), service=UNLIMITED, notifications=notifications) as live:
            accounts = live.server.config.app.state.runtime.accounts
            ruby_key = accounts.create_key("bench-ruby", "requester", RUBY)[0]
            sarah_key = accounts.create_key("bench-sarah", "agent", SARAH)[0]
            notices: queue.Queue[tuple[dict[str, Any], float]] = queue.Queue()
            ready = threading.Event()
            threading.Thread(target=listen, args=(live.base_url, ruby_key, notices, ready), daemon=True).start()
            ready.wait(10)
            stream_ms, mail_ms = [], []
            ruby = httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {ruby_key}"}, timeout=60)
            sarah = httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {sarah_key}"}, timeout=60)
            for i in range(args.rounds):
                reply = ruby.post("/v1/ask", json={"text": "I lost my work iPhone on the train home last night"})
                cid, number = reply.json()["conversation_id"], reply.json()["ticket"]["number"]
                time.sleep(0.5)  # let the turn's own notices and mails pass
                while not notices.empty():
                    notices.get_nowait()
                mails_before = len(smtp.received)
                started = time.perf_counter()
                sarah.post(f"/v1/tickets/{number}/comments", json={"body": f"Update {i}: a loan phone is ready."})
                while True:
                    data_, at = notices.get(timeout=10)
                    if data_["conversation_id"] == cid and data_["kind"] == "assistant_message":
                        stream_ms.append((at - started) * 1000)
                        break
                smtp.wait_for(mails_before + 1, timeout_s=10)
                mail_ms.append((smtp.received[-1].at - started) * 1000)
            ruby.close()
            sarah.close()
    result = {"rounds": args.rounds, "stream": summary(stream_ms), "mail": summary(mail_ms)}
    print(json.dumps(result, indent=2))
    print("saved", save("live_notices", result))


if __name__ == "__main__":
    main()
