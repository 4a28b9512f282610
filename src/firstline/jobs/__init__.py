"""Background jobs: ingest, re-ingest, ticket sync and outgoing mail on a huey queue, with retries,
leases (a job survives its worker dying) and dead letters in Firstline's database.

``runtime.jobs`` is the deployment's :class:`Jobs` (SQLite ``data_dir/jobs.db`` for one process, Redis when
``scale.redis_url`` is set); ``firstline serve`` runs a :class:`Consumer` in its lifespan and
``firstline jobs work`` runs one alone. See docs/jobs.md.
"""

from firstline.jobs.build import build_jobs
from firstline.jobs.consumer import Consumer
from firstline.jobs.dead import DeadJob, DeadLetters
from firstline.jobs.queue import JobCounts, JobKind, Jobs, QueuedJob

__all__ = [
    "Consumer",
    "DeadJob",
    "DeadLetters",
    "JobCounts",
    "JobKind",
    "Jobs",
    "QueuedJob",
    "build_jobs",
]
