"""The job queue for admins: counts and waiting jobs, dead letters, retry and discard (console "Jobs")."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from firstline.service.auth import Admin
from firstline.service.schemas import errors
from firstline.service.schemas_jobs import JobRetriedOut, JobsOverviewOut
from firstline.service.state import runtime_of

__all__ = ["router"]

router = APIRouter(tags=["jobs"])

RECENT = 50


@router.get("/v1/admin/jobs", response_model=JobsOverviewOut, responses=errors(401, 403, 429, 503))
async def overview(request: Request, who: Admin) -> dict[str, Any]:
    """How many jobs wait, run and died; the waiting jobs and the most recent dead ones with their error."""
    runtime = runtime_of(request)

    def load() -> dict[str, Any]:
        jobs = runtime.jobs
        counts = jobs.counts()
        return {
            "queued": counts.queued,
            "scheduled": counts.scheduled,
            "running": counts.running,
            "dead": counts.dead,
            "where": jobs.where,
            "kinds": sorted(jobs.kinds),
            "waiting": [
                {**vars(job), "eta": job.eta.isoformat() + "Z" if job.eta else None} for job in jobs.queued(RECENT)
            ],
            "recent_dead": [dead.as_dict() for dead in jobs.dead.list(RECENT)],
        }

    return await asyncio.to_thread(load)


def _missing(job_id: str) -> HTTPException:
    return HTTPException(404, f"No dead job {job_id}: it was retried or discarded already, or never died.")


@router.post(
    "/v1/admin/jobs/dead/{job_id}/retry", response_model=JobRetriedOut, responses=errors(401, 403, 404, 422, 429, 503)
)
async def retry(request: Request, who: Admin, job_id: str) -> dict[str, str]:
    """Queue a dead job again with fresh retries (it leaves the dead list)."""
    runtime = runtime_of(request)
    new_id = await asyncio.to_thread(runtime.jobs.retry_dead, job_id)
    if new_id is None:
        raise _missing(job_id)
    return {"id": job_id, "job_id": new_id}


@router.delete(
    "/v1/admin/jobs/dead/{job_id}", status_code=204, response_class=Response, responses=errors(401, 403, 404, 429, 503)
)
async def discard(request: Request, who: Admin, job_id: str) -> Response:
    """Remove a dead job without running it."""
    runtime = runtime_of(request)
    if not await asyncio.to_thread(runtime.jobs.discard_dead, job_id):
        raise _missing(job_id)
    return Response(status_code=204)
