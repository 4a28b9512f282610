"""The one composition root: validated ``Settings`` in, live objects out.

Nothing else in Firstline constructs stores, embedders or rerankers from settings. The CLI and
the service build one ``Runtime`` and pass its parts down::

    with Runtime(load_settings()) as runtime:
        hits = runtime.knowledge.search("vpn keeps dropping")
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from firstline.assembly import (
    act_model_path,
    beneficiary_model_path,
    build_directory,
    build_embedder,
    build_engine,
    build_knowledge,
    build_model,
    build_reranker_from,
    build_store,
    demo_org,
    demo_runbooks,
    server_secret,
    single_threaded_blas,
    triage_model_path,
    warn_if_shared,
)
from firstline.errors import ConfigError
from firstline.knowledge.base import KnowledgeBase
from firstline.knowledge.embedders import Embedder
from firstline.settings import Settings

if TYPE_CHECKING:  # the stores and triage load on first use: `firstline kb search` needs none of them
    from firstline.accounts import SqlAccounts
    from firstline.conversations import SqlConversations
    from firstline.conversations.channels import SqlChannels
    from firstline.conversations.hub import Sharing
    from firstline.conversations.message_keys import SqlMessageKeys
    from firstline.coordination import Coordination
    from firstline.directory import DirectoryBackend
    from firstline.helpdesk.desk import Helpdesk
    from firstline.helpdesk.tools.deps import Outbox
    from firstline.helpdesk.triage import Triage
    from firstline.jobs import Consumer, Jobs
    from firstline.llm.pool import ModelIO
    from firstline.sqlstore.transactions import Transactions
    from firstline.ticketing import TicketingBackend
    from firstline.ticketing.remote import TicketConnector
    from firstline.ticketing.sync import Syncer, SyncWorker

__all__ = [
    "Runtime",
    "build_directory",
    "build_embedder",
    "build_engine",
    "build_knowledge",
    "build_model",
    "build_reranker_from",
    "build_store",
    "demo_org",
    "demo_runbooks",
    "server_secret",
    "single_threaded_blas",
    "triage_model_path",
]

log = logging.getLogger(__name__)


class Runtime:
    """Owns every live object for one process; use as a (sync or async) context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        warn_if_shared(settings.data_dir)
        single_threaded_blas()
        self._embedder: Embedder | None = None
        self._knowledge: KnowledgeBase | None = None
        self._triage: Triage | None = None
        self._database: Transactions | None = None
        self._conversations: SqlConversations | None = None
        self._accounts: SqlAccounts | None = None
        self._channels: SqlChannels | None = None
        self._message_keys: SqlMessageKeys | None = None
        self._tickets: TicketingBackend | None = None
        self._syncer: Syncer | None = None
        self._sync_worker: SyncWorker | None = None
        self._directory: DirectoryBackend | None = None
        self._helpdesk: Helpdesk | None = None
        self._outbox: Outbox | None = None
        self._model_io: ModelIO | None = None
        self._coordination: Coordination | None = None
        self._sharing: Sharing | None = None
        self._jobs: Jobs | None = None
        self._consumer: Consumer | None = None

    @property
    def model_io(self) -> ModelIO:
        """The process's model-I/O loop with one pooled client per LLM endpoint (closed with the runtime)."""
        if self._model_io is None:
            from firstline.llm.pool import ModelIO

            self._model_io = ModelIO()
        return self._model_io

    @property
    def coordination(self) -> Coordination | None:
        """The Redis every worker shares (``scale.redis_url``), checked on first use; None without one.

        Raises :class:`~firstline.coordination.RedisUnavailableError` (URL and fix) when Redis does not answer."""
        if self._coordination is None and self.settings.scale.shared:
            from firstline.coordination import Coordination

            made = Coordination.from_settings(self.settings.scale)
            assert made is not None
            try:
                made.check()
            except BaseException:
                made.close()
                raise
            self._coordination = made
        return self._coordination

    @property
    def outbox(self) -> Outbox:
        """Where the demo delivery "sends" one-time codes (the stand-in for an SMS gateway); in Redis when shared."""
        if self._outbox is None:
            from firstline.helpdesk.tools.deps import Outbox

            self._outbox = Outbox(coordination=self.coordination, ttl_s=max(60, int(self.settings.security.code_ttl_s)))
        return self._outbox

    @property
    def embedder(self) -> Embedder:
        """One embedder per process, shared by the knowledge base and triage."""
        if self._embedder is None:
            self._embedder = build_embedder(self.settings.knowledge)
        return self._embedder

    @property
    def knowledge(self) -> KnowledgeBase:
        if self._knowledge is None:
            self._knowledge = build_knowledge(self.settings, self.embedder)
        return self._knowledge

    @property
    def triage(self) -> Triage:
        if self._triage is None:
            from firstline.helpdesk.taxonomy import load_taxonomy
            from firstline.helpdesk.triage import Triage, TriageModel

            model = TriageModel.load(triage_model_path(self.settings))
            self._triage = Triage(load_taxonomy(), model, self.embedder)
        return self._triage

    @property
    def database(self) -> Transactions:
        """Firstline's own database (``ticketing.database_url``; SQLite under data_dir by default)."""
        if self._database is None:
            from firstline.localdb import open_database

            self._database = open_database(self.settings.ticket_database_url)
        return self._database

    @property
    def conversations(self) -> SqlConversations:
        """Conversations, their events, approvals and verification codes, in Firstline's database."""
        if self._conversations is None:
            from firstline.conversations import SqlConversations

            conversations = SqlConversations(self.database)
            if self.coordination is not None:  # live notices reach the streams of every worker
                from firstline.conversations.hub import share_through

                self._sharing = share_through(conversations.hub, self.coordination.bus())
            self._conversations = conversations
        return self._conversations

    @property
    def channels(self) -> SqlChannels:
        """Channel identities (verified only), channel threads and handled deliveries, in Firstline's database."""
        if self._channels is None:
            from firstline.conversations.channels import SqlChannels

            self._channels = SqlChannels(self.database)
        return self._channels

    @property
    def message_keys(self) -> SqlMessageKeys:
        """Idempotency keys of messages sent over the API, with the replies a retry gets back."""
        if self._message_keys is None:
            from firstline.conversations.message_keys import SqlMessageKeys

            self._message_keys = SqlMessageKeys(self.database)
        return self._message_keys

    @property
    def accounts(self) -> SqlAccounts:
        """Sign-in accounts, API keys and login sessions of the service, in Firstline's database."""
        if self._accounts is None:
            from firstline.accounts import SqlAccounts

            self._accounts = SqlAccounts(self.database, remember_s=self.settings.security.auth_remember_s)
        return self._accounts

    @property
    def tickets(self) -> TicketingBackend:
        """The ticket backend ``ticketing.backend`` names: the built-in store in Firstline's database (``sql``),
        or a vendor's system behind a mirror in that database and its outbox (:mod:`firstline.ticketing.synced`)."""
        if self._tickets is None:
            from firstline.ticketing import SqlTicketing

            mirror = SqlTicketing(self.database)
            if self.settings.ticketing.backend == "sql":
                self._tickets = mirror
            else:
                from firstline.helpdesk.vendor_updates import TellRequester
                from firstline.ticketing.sync import Syncer
                from firstline.ticketing.synced import SyncedTicketing

                synced = SyncedTicketing(mirror, self._build_connector())
                sync = self.settings.ticketing.sync
                self._syncer = Syncer(
                    synced,
                    on_remote_change=TellRequester(self.conversations),
                    lease=timedelta(seconds=sync.lease_s),
                    first_poll=timedelta(hours=sync.first_poll_h),
                )
                if self.settings.jobs.enabled:  # a committed change queues a ticket_sync job (the SyncWorker,
                    synced.wake = self._queue_ticket_sync  # when started, takes this hook over)
                self._tickets = synced
        return self._tickets

    def _build_connector(self) -> TicketConnector:
        from firstline.ticketing.connectors.configure import build_connector

        ticketing = self.settings.ticketing
        if ticketing.backend != "webform":
            return build_connector(ticketing)
        section = ticketing.webform.options()
        endpoint = section.pop("computer_use_endpoint", None)
        extra: dict[str, Any] = {}
        if endpoint:  # a vision model takes over when the form map no longer fits the page
            from firstline.agents.computer_use import ComputerUse

            if endpoint not in self.settings.llm.endpoints:
                raise ConfigError(
                    f"[ticketing.webform] computer_use_endpoint {endpoint!r} is not an [llm.endpoints] entry."
                )
            model = build_model(endpoint, self.settings.llm.endpoints[endpoint], {}, self.model_io)
            extra["fallback"] = ComputerUse(model, max_steps=int(section.get("max_steps", 15)))
        return build_connector(ticketing.model_copy(update={"webform": type(ticketing.webform)(**section)}), **extra)

    def _queue_ticket_sync(self) -> None:
        self.jobs.enqueue("ticket_sync")

    @property
    def syncer(self) -> Syncer | None:
        """The two-way sync of a vendor backend (``None`` for ``sql``)."""
        self.tickets  # noqa: B018 - builds the backend, and with a vendor its syncer
        return self._syncer

    @property
    def connector(self) -> TicketConnector | None:
        """The vendor connector behind the tickets (``None`` for ``sql``)."""
        return None if self.syncer is None else self.syncer.connector

    def start_sync(self) -> None:
        """Start the background sync worker of a vendor backend (``firstline serve``); no-op for ``sql``."""
        sync = self.settings.ticketing.sync
        if self.syncer is not None and sync.worker and self._sync_worker is None:
            from firstline.ticketing.sync import SyncWorker

            self._sync_worker = SyncWorker(self.syncer, poll_s=sync.poll_s).start()

    def analytics(self, days: int = 30) -> dict[str, Any]:
        """The console's metrics over the last ``days`` days (see :mod:`firstline.analytics`)."""
        from firstline.analytics import report

        return report(self.database, days, datetime.now(UTC))

    def ticket_counts(self) -> dict[str, int]:
        """Tickets per state in Firstline's database (the built-in store, or a vendor backend's mirror)."""
        from firstline.analytics import tickets_by_state

        return tickets_by_state(self.database)

    @property
    def directory(self) -> DirectoryBackend:
        """People, accounts, devices, printers, phones, mailboxes: SQL (seeded with the demo org) or LDAP."""
        if self._directory is None:
            self._directory = build_directory(self.settings)
        return self._directory

    @property
    def helpdesk(self) -> Helpdesk:
        """Triage, the specialists on the offline engine, tickets and conversations: ``ask`` / ``decide``."""
        if self._helpdesk is None:
            from firstline.directory.configure import account_rules
            from firstline.helpdesk.desk import Helpdesk
            from firstline.helpdesk.tools.deps import OneTimeCodes

            knowledge = self.knowledge
            from firstline.helpdesk.acts import ActModel, Acts
            from firstline.helpdesk.beneficiary import Beneficiary, BeneficiaryModel
            from firstline.helpdesk.pacing import TurnBudgets

            security = self.settings.security

            self._helpdesk = Helpdesk(
                acts=Acts(ActModel.load(act_model_path(self.settings)), self.embedder),
                beneficiary=Beneficiary(BeneficiaryModel.load(beneficiary_model_path(self.settings)), self.embedder),
                codes=OneTimeCodes(
                    ttl_s=security.code_ttl_s,
                    deliver=self.outbox.deliver,
                    store=self.conversations,
                    secret=server_secret(self.settings),
                    window_s=security.code_window_s,
                    max_wrong=security.code_max_wrong,
                    max_sends=security.code_max_sends,
                    lockout_s=security.code_lockout_s,
                ),
                directory=self.directory,
                account_rules=account_rules(self.settings.directory),
                tickets=self.tickets,
                conversations=self.conversations,
                triage=self.triage,
                knowledge=knowledge,
                engine=build_engine(self.settings, self.triage, self.model_io),
                budgets=TurnBudgets(self.settings.llm.turn_budget_s, self.settings.llm.turn_limit_factor),
            )
        return self._helpdesk

    @property
    def jobs(self) -> Jobs:
        """The deployment's job queue (:mod:`firstline.jobs`) with Firstline's kinds registered; built once."""
        if self._jobs is None:
            from firstline.jobs import build_jobs

            jobs = build_jobs(self.settings, self.database)
            jobs.register("ingest", self._ingest_job, keep_result=True)
            jobs.register("reingest", self._reingest_job, keep_result=True)
            jobs.register("ticket_sync", self._ticket_sync_job, dedupe=True, periodic=True)
            # The vendor poll is a periodic job where no SyncWorker thread polls (``ticketing.sync.worker = false``).
            ticketing = self.settings.ticketing
            poll = ticketing.backend != "sql" and not ticketing.sync.worker
            jobs.register("ticket_pull", self._ticket_pull_job, dedupe=True, periodic=poll)
            self._jobs = jobs  # send_mail: registered by firstline.channels.smtp.shared_worker
        return self._jobs

    def _ingest_job(self, payload: dict[str, Any]) -> dict[str, object]:
        """``ingest`` ``{"paths": [...], "prune": bool}``: those files or folders; the report is kept for a waiter."""
        paths = [Path(str(p)) for p in payload.get("paths", [])]
        return self.knowledge.ingest(paths, prune=bool(payload.get("prune"))).as_dict()

    def reingest_roots(self) -> list[Path]:
        """What a re-ingest reads: the demo runbooks (when enabled) and the uploads folder (when it exists)."""
        uploads = self.settings.data_dir / "uploads"
        roots = [uploads] if uploads.exists() else []
        if self.settings.knowledge.ingest_demo_runbooks:
            roots.insert(0, demo_runbooks())
        return roots

    def _reingest_job(self, payload: dict[str, Any]) -> dict[str, object]:
        """``reingest`` ``{}``: every source again, pruning what is gone."""
        roots = self.reingest_roots()
        return self.knowledge.ingest(roots, prune=True).as_dict() if roots else {}

    def _ticket_sync_job(self, payload: dict[str, Any]) -> dict[str, int]:
        """``ticket_sync`` ``{}``: one push round of the ticket outbox (nothing without a vendor backend)."""
        if self.syncer is None:
            return {}
        report = self.syncer.push()
        return {"sent": report.sent, "deferred": report.deferred, "failed": report.failed}

    def _ticket_pull_job(self, payload: dict[str, Any]) -> int:
        """``ticket_pull`` ``{}``: bring the vendor's changes into the mirror."""
        return 0 if self.syncer is None else len(self.syncer.pull())

    def start_jobs(self, threads: int | None = None) -> Consumer | None:
        """Start a job consumer in this process (``jobs.consumers`` threads unless given); None when off."""
        count = self.settings.jobs.consumers if threads is None else threads
        if not self.settings.jobs.enabled or count < 1:
            return None
        if self._consumer is None:
            from firstline.jobs import Consumer

            self._consumer = Consumer(self.jobs, count).start()
        return self._consumer

    @property
    def jobs_consuming(self) -> bool:
        """Whether jobs enqueued here get run: a consumer runs in this process, or (Redis, ``jobs.consumers = 0``)
        in the dedicated ``firstline jobs work`` processes of the deployment."""
        jobs = self.settings.jobs
        return jobs.enabled and (self._consumer is not None or (self.settings.scale.shared and jobs.consumers == 0))

    def stop_jobs(self, timeout_s: float = 10.0) -> None:
        """Stop this process's consumer (running jobs finish first, up to ``timeout_s``)."""
        if self._consumer is not None:
            self._consumer.stop(timeout_s)
            self._consumer = None

    def close(self) -> None:
        self.stop_jobs()
        self._helpdesk = None
        if self._model_io is not None:
            self._model_io.close()  # after the turns: the service drains them before closing the runtime
            self._model_io = None
        if self._directory is not None:
            self._directory.close()
            self._directory = None
        if self._knowledge is not None:
            self._knowledge.close()
            self._knowledge = None
        if self._sync_worker is not None:
            self._sync_worker.stop()
            self._sync_worker = None
        if self._tickets is not None:
            self._tickets.close()
            self._tickets = None
            self._syncer = None
        self._conversations = self._accounts = None
        if self._jobs is not None:
            self._jobs.close()
            self._jobs = None
        if self._database is not None:
            self._database.close()
            self._database = None
        if self._sharing is not None:
            self._sharing.stop()
            self._sharing = None
        self._outbox = None
        if self._coordination is not None:
            self._coordination.close()
            self._coordination = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
