"""``firstline jobs``: run the job queue in a process of its own, look at it, and handle dead jobs.

``firstline jobs work`` is a dedicated job worker for deployments that run web and jobs apart (set
``jobs.consumers = 0`` for the web processes then); it stops cleanly on SIGTERM or Ctrl-C, letting running
jobs finish (a job cut off anyway is run again once its lease runs out). ``list`` shows counts and waiting
jobs, ``dead`` the jobs whose retries were spent, ``retry ID`` / ``discard ID`` handle one of them, and
``enqueue KIND`` queues a job by hand (``firstline jobs enqueue reingest``).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.runtime import Runtime

__all__ = ["jobs_app"]

jobs_app = typer.Typer(help="The job queue: run a worker, list jobs, retry or discard dead ones.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


@contextmanager
def _runtime() -> Iterator[Runtime]:
    from firstline.channels.smtp import shared_worker
    from firstline.cli.main import fail, settings_or_exit
    from firstline.runtime import Runtime

    settings = settings_or_exit()
    if not settings.jobs.enabled:
        fail(FirstlineError("The job queue is off (jobs.enabled = false): set it to true in [jobs]."))
    try:
        with Runtime(settings) as runtime:
            shared_worker(runtime)  # registers the send_mail kind (the mail channel owns it)
            yield runtime
    except FirstlineError as exc:
        fail(exc)


@jobs_app.command("work")
def work(
    threads: Annotated[int, typer.Option(min=0, max=32, help="consumer threads (0: jobs.consumers, at least 1)")] = 0,
    until_idle: Annotated[
        bool, typer.Option(help="stop once the queue is empty (a one-off run, e.g. from cron)")
    ] = False,
) -> None:
    """Run jobs until stopped (SIGTERM, Ctrl-C), or until the queue is empty with --until-idle."""
    from firstline.cli.main import console
    from firstline.jobs import Consumer

    with _runtime() as runtime:
        jobs = runtime.jobs
        if until_idle:
            ran = 0
            while True:
                jobs.tick()
                if jobs.run_one():
                    ran += 1
                elif not jobs.counts().scheduled:
                    break
                else:
                    time.sleep(jobs.settings.poll_s)
            console.print(f"{ran} job(s) run; the queue is empty.")
            return
        count = threads or max(runtime.settings.jobs.consumers, 1)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        consumer = Consumer(jobs, count).start()
        console.print(f"Running jobs from {jobs.where} on {count} thread(s); SIGTERM or Ctrl-C stops.")
        stop.wait()
        consumer.stop()


@jobs_app.command("list")
def list_jobs(as_json: JsonOption = False) -> None:
    """Counts (queued, scheduled, running, dead) and the jobs waiting to run."""
    from firstline.cli.main import console, print_json, printable

    with _runtime() as runtime:
        counts = runtime.jobs.counts()
        waiting = runtime.jobs.queued()
    if as_json:
        print_json(
            {**vars(counts), "waiting": [{**vars(j), "eta": j.eta.isoformat() if j.eta else None} for j in waiting]}
        )
        return
    console.print(f"queued {counts.queued}  scheduled {counts.scheduled}  running {counts.running}  dead {counts.dead}")
    table = Table("id", "kind", "payload", "due (UTC)", "retries left")
    for job in waiting:
        due = job.eta.isoformat(timespec="seconds") if job.eta else "now"
        table.add_row(job.id, job.kind, printable(json.dumps(job.payload)), due, str(job.retries_left))
    console.print(table)


@jobs_app.command("dead")
def dead(as_json: JsonOption = False, limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """Jobs whose retries were spent, newest first, with their last error."""
    from firstline.cli.main import console, print_json, printable

    with _runtime() as runtime:
        letters = runtime.jobs.dead.list(limit)
    if as_json:
        print_json([d.as_dict() for d in letters])
        return
    table = Table("id", "kind", "attempts", "dead at (UTC)", "error")
    for d in letters:
        table.add_row(d.id, d.kind, str(d.attempts), d.dead_at.isoformat(timespec="seconds"), printable(d.error))
    console.print(table)


@jobs_app.command("retry")
def retry(job_id: str) -> None:
    """Queue a dead job again with fresh retries."""
    from firstline.cli.main import console, fail

    with _runtime() as runtime:
        new_id = runtime.jobs.retry_dead(job_id)
    if new_id is None:
        fail(FirstlineError(f"No dead job {job_id}: see `firstline jobs dead`."), code=1)
    console.print(f"Queued again as job {new_id}.")


@jobs_app.command("discard")
def discard(job_id: str) -> None:
    """Remove a dead job without running it."""
    from firstline.cli.main import console, fail

    with _runtime() as runtime:
        gone = runtime.jobs.discard_dead(job_id)
    if not gone:
        fail(FirstlineError(f"No dead job {job_id}: see `firstline jobs dead`."), code=1)
    console.print(f"Dead job {job_id} discarded.")


@jobs_app.command("enqueue")
def enqueue(
    kind: str, payload: Annotated[str, typer.Option(help='a JSON object, e.g. {"paths": ["/srv/runbooks"]}')] = "{}"
) -> None:
    """Queue one job of KIND (ingest, reingest, ticket_sync, ticket_pull, send_mail)."""
    from firstline.cli.main import console, fail

    try:
        body: Any = json.loads(payload)
    except ValueError as exc:
        fail(FirstlineError(f"--payload is not JSON: {exc}"))
    if not isinstance(body, dict):
        fail(FirstlineError("--payload must be a JSON object"))
    with _runtime() as runtime:
        job_id = runtime.jobs.enqueue(kind, body)
    console.print(f"Queued {kind} as job {job_id}.")
