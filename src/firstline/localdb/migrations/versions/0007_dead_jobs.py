"""Background jobs: the dead letters of the job queue (jobs whose retries were spent).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dead_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_tried_at", _TS, nullable=False),
        sa.Column("last_tried_at", _TS, nullable=False),
        sa.Column("dead_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_jobs"),
    )
    op.create_index("ix_dead_jobs_dead_at", "dead_jobs", ["dead_at"])


def downgrade() -> None:
    op.drop_index("ix_dead_jobs_dead_at", "dead_jobs")
    op.drop_table("dead_jobs")
