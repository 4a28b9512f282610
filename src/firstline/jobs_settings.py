"""Settings of the background job queue: ``[jobs]`` in :class:`firstline.settings.Settings`.

The queue (:mod:`firstline.jobs`) runs ingest, re-ingest, ticket sync and outgoing mail with retries. Where
it keeps its queue follows ``[scale]``: a SQLite file ``data_dir/jobs.db`` for one process, Redis
(``scale.redis_url``) when several workers or machines share one deployment. ``consumers`` threads run
jobs inside ``firstline serve`` (0 = none there: run ``firstline jobs work`` as a separate process).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobsSettings"]


class JobsSettings(BaseModel):
    """``[jobs]``: consumer threads, retry policy, the lease of a running job and the safety-net rounds."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="run ingest, ticket sync and mail through the job queue")
    consumers: int = Field(1, ge=0, le=32, description="consumer threads in `firstline serve` (0: jobs run elsewhere)")
    retries: int = Field(5, ge=0, le=50, description="retries of a failed job before it is recorded as dead")
    retry_delay_s: float = Field(5.0, ge=0.0, le=3600.0, description="wait before the first retry")
    retry_backoff: float = Field(2.0, ge=1.0, le=10.0, description="each further retry waits this many times longer")
    lease_s: float = Field(
        60.0, ge=0.5, le=3600.0, description="a running job whose consumer stops renewing this long is run again"
    )
    periodic_s: float = Field(
        30.0, ge=0.1, le=3600.0, description="safety-net rounds of ticket sync and mail, in case a trigger was lost"
    )
    poll_s: float = Field(0.5, gt=0.0, le=10.0, description="how often an idle consumer looks for work")
    ingest_wait_s: float = Field(
        20.0, ge=0.0, le=600.0, description="how long an upload waits for its ingest job before answering 202"
    )
