"""Which queue a deployment uses: Redis when ``scale.redis_url`` is set, else the SQLite file ``data_dir/jobs.db``.

Firstline's job kinds are registered by the layers that own their work: the runtime registers ``ingest``,
``reingest``, ``ticket_sync`` and ``ticket_pull`` (:attr:`firstline.runtime.Runtime.jobs`), the mail channel
registers ``send_mail`` (:func:`firstline.channels.smtp.shared_worker`). This package stays below them and
knows none of that work: only the queue, its consumer and the dead letters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firstline.jobs.dead import DeadLetters
from firstline.jobs.queue import Jobs

if TYPE_CHECKING:
    from firstline.settings import Settings
    from firstline.sqlstore.transactions import Transactions

__all__ = ["build_jobs"]


def build_jobs(settings: Settings, database: Transactions) -> Jobs:
    """The deployment's queue, its dead letters in ``database`` (Firstline's own)."""
    dead = DeadLetters(database)
    scale = settings.scale
    if scale.shared:
        password = scale.redis_password.get_secret_value() if scale.redis_password else None
        return Jobs.redis(scale.redis_url, dead, settings.jobs, password=password, prefix=scale.key_prefix)
    return Jobs.sqlite(settings.data_dir / "jobs.db", dead, settings.jobs)
