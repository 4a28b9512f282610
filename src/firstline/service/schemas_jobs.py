"""Response models of the job-queue admin routes (:mod:`firstline.service.routes.jobs`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["DeadJobOut", "JobRetriedOut", "JobsOverviewOut", "QueuedJobOut"]


class DeadJobOut(BaseModel):
    id: str
    kind: str
    payload: dict[str, Any] = Field(description="redacted")
    error: str
    attempts: int
    first_tried_at: str
    last_tried_at: str
    dead_at: str


class QueuedJobOut(BaseModel):
    id: str
    kind: str
    payload: dict[str, Any]
    eta: str | None = Field(None, description="when a scheduled job (a retry) becomes due; null: waiting to run now")
    retries_left: int


class JobsOverviewOut(BaseModel):
    queued: int = Field(description="jobs waiting to run now")
    scheduled: int = Field(description="jobs waiting for their time (retries with their delay)")
    running: int = Field(description="jobs a consumer holds a lease on")
    dead: int = Field(description="jobs whose retries were spent")
    where: str = Field(description="the queue: the SQLite file or the Redis URL")
    kinds: list[str]
    waiting: list[QueuedJobOut]
    recent_dead: list[DeadJobOut]


class JobRetriedOut(BaseModel):
    id: str = Field(description="the dead job that was retried")
    job_id: str = Field(description="the new job on the queue")
