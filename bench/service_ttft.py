"""Time to first token through the service: when the model sent its first token against when the client saw it.

The real app (``create_app`` under uvicorn with the options ``firstline serve`` uses, on 127.0.0.1; its
data in a temporary folder, the demo runbooks ingested) runs with ``llm.engine = "llm"`` and one endpoint
for both roles: a :class:`~firstline.testing.openai_server.FakeOpenAIServer` in this process, paced like a
model (``--ttft`` before the first delta of every reply, ``--token`` between deltas, one word per delta).
When the triage agent's model is asked, it hands the turn to the network specialist
(``transfer_to_network``); the specialist's model streams an answer of 42 words. (``model_calls`` per
turn in the JSON says whether the desk asked the triage model or routed the message itself.) A signed-in
requester posts each message to ``/v1/conversations/{id}/messages`` with ``{"text": ..., "stream": true}``
(a new conversation per turn) and reads the Server-Sent Events with httpx.

Per turn: **delta** = the client's receive time of the first ``event: token`` minus the fake server's send
time of the first text chunk of the answer (``FakeOpenAIServer.sent``); the model's TTFT (its request
arriving -> its first text chunk written) against the TTFT the client sees (request sent -> first token
event), and how much of the latter passed before the answer's model call began (the handoff call is
in it); the same delta for every chunk of the answer (when the client has received text up to its end);
and whether the first token reached the client *before the model had finished* (tokens streamed
as they arrive) or only after its last chunk (the reply split into ``token`` events once complete).
``holding`` events are counted too. Both clocks are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux,
one clock for every process of the machine), so the service may run in a child process (``--service
process``, the default: its threads do not share a GIL with the fake model and the client) or on a thread of
this one (``--service thread``).

Usage: .venv/bin/python bench/service_ttft.py [--turns 40] [--ttft 0.2] [--token 0.02] [--service process]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _common import save, summary
from firstline.settings import Settings, load_settings
from firstline.testing.live import UNLIMITED, LiveService, free_port, seed_accounts
from firstline.testing.openai_server import FakeOpenAIServer, Turn

QUESTION = "My VPN keeps dropping every few minutes since this morning, on the train and at home."
ANSWER = (
    "That sounds like the VPN client losing its gateway when the network changes. Open GlobalProtect, choose "
    "Settings, set the portal to vpn.nwmeridian.co.uk and pick Best Available as the gateway. Then sign out, "
    "sign in again and tell me whether it still drops."
)


def model(ttft_s: float, token_s: float) -> Any:
    """The fake model's side: hand off to the network specialist once per turn, then answer, both paced."""

    def answer(body: dict[str, Any]) -> Turn:
        messages = body["messages"]
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        handed = any(
            c["function"]["name"].startswith("transfer_to_")
            for m in messages[last_user:]
            if m.get("role") == "assistant"
            for c in m.get("tool_calls") or ()
        )
        offered = {t["function"]["name"] for t in body.get("tools") or ()}
        if not handed and "transfer_to_network" in offered:
            return Turn(tool_calls=[("transfer_to_network", {"reason": "vpn drops"})], ttft_s=ttft_s, token_s=token_s)
        return Turn(text=ANSWER, ttft_s=ttft_s, token_s=token_s)

    return answer


def settings_for(data_dir: Path, model_url: str) -> Settings:
    return load_settings(
        data_dir=data_dir,
        service=UNLIMITED,
        llm={
            "engine": "llm",
            "endpoints": {"fake": {"preset": "vllm", "base_url": model_url, "model": "fake-model"}},
            "triage": ["fake"],
            "specialist": ["fake"],
            "first_token_s": 30,
            "turn_s": 60,
        },
    )


def serve_in_child(data_dir: str, model_url: str, port: int) -> None:
    import uvicorn

    from firstline.service.app import create_app
    from firstline.service.server import uvicorn_options

    settings = settings_for(Path(data_dir), model_url)
    uvicorn.run(create_app(settings), **{**uvicorn_options(settings, "127.0.0.1", port), "log_level": "warning"})


@contextmanager
def service(where: str, data_dir: Path, model_url: str, startup_s: float = 300.0) -> Iterator[LiveService]:
    """The app with accounts seeded, on a free port, in a child process or on a thread; ready when yielded."""
    settings = settings_for(data_dir, model_url)
    accounts = seed_accounts(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if where == "process":
        child = multiprocessing.get_context("spawn").Process(
            target=serve_in_child, args=(str(data_dir), model_url, port), daemon=True
        )
        child.start()
        alive = child.is_alive

        def stop() -> None:
            child.terminate()  # SIGTERM: uvicorn shuts down, the app drains its turns
            child.join(30)
    else:
        import uvicorn

        from firstline.service.app import create_app
        from firstline.service.server import uvicorn_options

        server = uvicorn.Server(uvicorn.Config(create_app(settings), **uvicorn_options(settings, "127.0.0.1", port)))
        thread = threading.Thread(target=server.run, name="service-ttft-uvicorn", daemon=True)
        thread.start()
        alive = thread.is_alive

        def stop() -> None:
            server.should_exit = True
            thread.join(60)

    deadline = time.monotonic() + startup_s
    try:
        while True:
            if not alive():
                raise RuntimeError("the service stopped during start-up")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service was not ready within {startup_s:.0f} s")
            time.sleep(0.2)
        yield LiveService(base, settings, accounts)
    finally:
        stop()


def one_turn(client: httpx.Client, fake: FakeOpenAIServer) -> dict[str, Any]:
    """Post one streamed message in a new conversation; the timings of its first token on both sides."""
    conversation = client.post("/v1/conversations", json={}).json()["conversation_id"]
    first_request = len(fake.requests)
    kinds: dict[str, int] = {}
    first_token: float | None = None
    tokens: list[tuple[float, str]] = []  # (received, text) of each token event
    sent = time.perf_counter()
    with client.stream(
        "POST", f"/v1/conversations/{conversation}/messages", json={"text": QUESTION, "stream": True}
    ) as response:
        response.raise_for_status()
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:].strip()
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind == "token" and first_token is None:
                    first_token = time.perf_counter()
            elif line.startswith("data: ") and kind == "token":
                tokens.append((time.perf_counter(), str(json.loads(line[6:]).get("text", ""))))
    done = time.perf_counter()
    answering = [i for i in range(first_request, len(fake.requests)) if fake.first_text_at(i) is not None]
    out: dict[str, Any] = {
        "events": kinds,
        "turn_ms": (done - sent) * 1000,
        "model_calls": len(fake.requests) - first_request,
    }
    if not answering or first_token is None:
        out["problem"] = "no streamed text from the model" if not answering else "no token event reached the client"
        return out
    request = answering[-1]
    model_first = fake.first_text_at(request)
    assert model_first is not None
    model_last = max(s.at for s in fake.sent if s.request == request)
    out |= {
        "delta_ms": (first_token - model_first) * 1000,
        "model_ttft_ms": (model_first - fake.received[request]) * 1000,
        "client_ttft_ms": (first_token - sent) * 1000,
        "answer_requested_ms": (fake.received[request] - sent) * 1000,  # earlier calls (the handoff) included
        "streamed_live": first_token < model_last,
        "model_answer_ms": (model_last - model_first) * 1000,
    }
    every = token_deltas([(s.at, s.text) for s in fake.sent if s.request == request], tokens)
    if every is not None:
        out["every_token_delta_ms"] = every
    return out


def token_deltas(model: list[tuple[float, str]], client: list[tuple[float, str]]) -> list[float] | None:
    """For each chunk the model sent, how long until the client had received text up to its end (ms); None
    when the client's token text does not contain the model's answer (the service rewrote it)."""
    said, heard = "".join(t for _, t in model), "".join(t for _, t in client)
    start = heard.find(said)
    if not said or start < 0:
        return None
    deltas, end, received, index = [], start, 0, 0
    for at, text in model:
        end += len(text)
        while index < len(client) and received < end:
            received += len(client[index][1])
            index += 1
        deltas.append((client[index - 1][0] - at) * 1000)
    return deltas


def run(turns: int, warmup: int, ttft_s: float, token_s: float, where: str) -> dict[str, Any]:
    with (
        FakeOpenAIServer(default=model(ttft_s, token_s), unique_call_ids=True) as fake,
        tempfile.TemporaryDirectory() as data,
        service(where, Path(data), fake.url) as live,
    ):
        client = live.login("requester")
        client.timeout = httpx.Timeout(120)
        for _ in range(warmup):
            one_turn(client, fake)
        results = [one_turn(client, fake) for _ in range(turns)]
        client.close()
    good = [r for r in results if "delta_ms" in r]
    live_count = sum(r["streamed_live"] for r in good)
    if not good:
        verdict = "no turn streamed a token from the model to the client"
    elif live_count == len(good):
        verdict = "tokens stream as they arrive: every first token reached the client before the model's last chunk"
    elif live_count == 0:
        verdict = ("tokens do NOT stream as they arrive: every first token reached the client only after the model had"
                   " sent its whole answer (the reply is split into token events once complete)")  # fmt: skip
    else:
        verdict = f"mixed: {live_count} of {len(good)} turns streamed live"
    holding = sum(r["events"].get("holding", 0) for r in results)
    every = [d for r in good for d in r.get("every_token_delta_ms", ())]
    return {
        "turns": turns,
        "warmup": warmup,
        "service": where,
        "model": {"ttft_s": ttft_s, "token_s": token_s, "answer_words": len(ANSWER.split()), "question": QUESTION},
        "verdict": verdict,
        "delta_first_token": summary([r["delta_ms"] for r in good]) if good else None,
        "delta_every_token": summary(every) if every else None,
        "model_ttft": summary([r["model_ttft_ms"] for r in good]) if good else None,
        "client_ttft": summary([r["client_ttft_ms"] for r in good]) if good else None,
        "answer_requested": summary([r["answer_requested_ms"] for r in good]) if good else None,
        "turn": summary([r["turn_ms"] for r in results]),
        "streamed_live": live_count,
        "holding_events": holding,
        "problems": [r["problem"] for r in results if "problem" in r],
        "per_turn": results,
    }


def show(data: dict[str, Any]) -> None:
    model = data["model"]
    print(f"service in a {data['service']}; model TTFT {model['ttft_s']} s, {model['token_s']} s per token, "
          f"answer of {model['answer_words']} words; {data['turns']} turns")  # fmt: skip
    rows = [
        ("delta: client first token - model first token", "delta_first_token"),
        ("delta, every token of the answer", "delta_every_token"),
        ("model TTFT (request in -> first token out)", "model_ttft"),
        ("client TTFT (request sent -> first token event)", "client_ttft"),
        ("  of which: request sent -> answer's model call", "answer_requested"),
        ("whole turn", "turn"),
    ]
    for label, key in rows:
        stats = data[key]
        if stats:
            print(f"  {label:<50} p50 {stats['median_ms']:>8.1f} ms   p95 {stats['p95_ms']:>8.1f} ms")
    print(f"  {data['verdict']}")
    print(f"  holding events: {data['holding_events']}; problems: {data['problems'] or 'none'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--ttft", type=float, default=0.2, help="the model's time to first token, seconds")
    parser.add_argument("--token", type=float, default=0.02, help="seconds between the model's deltas")
    parser.add_argument("--service", choices=["process", "thread"], default="process")
    args = parser.parse_args()
    result = run(args.turns, args.warmup, args.ttft, args.token, args.service)
    show(result)
    print(f"wrote {save('service_ttft', result)}")
