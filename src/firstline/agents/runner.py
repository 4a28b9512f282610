"""The Runner: the only agent loop. Model turn -> tool calls / handoff -> repeat, bounded.

Every decision about running a tool is the :class:`ToolPolicy`'s: a model that asks for a
``write`` tool before identity is verified gets a refusal it must relay, and a ``destructive``
call pauses the run with an approval request. ``resume`` continues a paused run once a human
has decided; the state is plain data, so the decision may arrive in another process.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry import trace

from firstline.agents.agent import Agent, GuardrailResult
from firstline.agents.budget import LatencyMemory, TurnBudget
from firstline.agents.context import Approval, RunContext
from firstline.agents.events import EventKind, RunEvent
from firstline.agents.policy import ToolPolicy
from firstline.agents.prompting import build_request
from firstline.agents.result import ToolOutcome
from firstline.agents.tool import Tool
from firstline.errors import ConfigError, ModelCallError, ToolFailed, ToolRetry
from firstline.llm.messages import ChatModel, ChatRequest, Message, ModelResponse, StreamReset, ToolCall
from firstline.vendors.receipts import Receipt, collect_receipts

__all__ = ["RunResult", "RunState", "Runner"]

log = logging.getLogger(__name__)
tracer = trace.get_tracer("firstline.agents")  # a no-op until the service installs a tracer provider

Status = Literal["running", "paused", "done", "failed"]


@dataclass
class RunState:
    """Everything needed to continue a conversation's run: serialisable with ``as_dict``."""

    agent: str
    messages: list[Message] = field(default_factory=list)
    turns: int = 0
    status: Status = "running"
    pending_call: ToolCall | None = None
    pending_approval: str | None = None

    def as_dict(self) -> dict[str, Any]:
        call = self.pending_call
        return {
            "agent": self.agent,
            "messages": [m.as_dict() for m in self.messages],
            "turns": self.turns,
            "status": self.status,
            "pending_call": {"id": call.id, "name": call.name, "arguments": call.arguments} if call else None,
            "pending_approval": self.pending_approval,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        call = data.get("pending_call")
        return cls(
            data["agent"],
            [Message.from_dict(m) for m in data["messages"]],
            int(data["turns"]),
            data["status"],
            ToolCall(call["id"], call["name"], dict(call["arguments"])) if call else None,
            data.get("pending_approval"),
        )


@dataclass
class RunResult:
    state: RunState
    events: list[RunEvent]

    @property
    def reply(self) -> str:
        messages = [e.data["text"] for e in self.events if e.kind == "message"]
        return messages[-1] if messages else ""

    @property
    def status(self) -> Status:
        return self.state.status


EventSink = Callable[[RunEvent], None]


class Runner:
    """Runs agents with one model (or one per agent), a policy and a turn limit."""

    def __init__(
        self,
        agents: Mapping[str, Agent],
        model: ChatModel | Callable[[Agent], ChatModel],
        policy: ToolPolicy | None = None,
        max_turns: int = 8,
        max_tool_retries: int = 2,
        step_scope: Callable[[], AbstractContextManager[Any]] | None = None,
        fallback: ChatModel | None = None,
    ) -> None:
        """``step_scope`` wraps each tool execution together with its ``tool_finished`` event (e.g.
        a database unit of work, so a ticket change and the event that records it commit together).
        ``fallback`` takes over a turn whose model keeps sending invalid tool arguments after
        ``max_tool_retries`` corrections (the turn restarts from the user's message on it)."""
        self.agents = dict(agents)
        self._model = model
        self.policy = policy or ToolPolicy()
        self.max_turns = max_turns
        self.max_tool_retries = max_tool_retries
        self._step_scope = step_scope or nullcontext
        self.fallback = fallback
        self.latency = LatencyMemory()  # each model's recent latency, to see a budget breach coming

    def model_for(self, agent: Agent) -> ChatModel:
        return self._model if isinstance(self._model, ChatModel) else self._model(agent)

    def agent(self, name: str) -> Agent:
        try:
            return self.agents[name]
        except KeyError:
            raise ConfigError(f"No agent named {name!r}; known agents: {', '.join(sorted(self.agents))}") from None

    # -- public API ---------------------------------------------------------------------------

    async def run(
        self,
        agent: str,
        user_input: str,
        context: RunContext,
        state: RunState | None = None,
        on_event: EventSink | None = None,
    ) -> RunResult:
        """Add the user's message to ``state`` (or a new one) and run until a reply, a pause or the limit."""
        state = state or RunState(agent)
        if state.status == "paused":
            raise ConfigError("This run is waiting for an approval decision; call resume() first.")
        state.status, state.turns = "running", 0
        events: list[RunEvent] = []
        emit = self._emitter(events, on_event)
        current = self.agent(state.agent)
        for guardrail in current.guardrails:
            outcome = guardrail.check(context, user_input)
            result = await outcome if asyncio.iscoroutine(outcome) else outcome
            assert isinstance(result, GuardrailResult)
            if result.tripped:
                state.messages.append(Message("user", user_input))
                state.messages.append(Message("assistant", result.message))
                emit("message", current.name, text=result.message, guardrail=guardrail.name)
                state.status = "done"
                emit("done", current.name, status="done")
                return RunResult(state, events)
        state.messages.append(Message("user", user_input))
        with tracer.start_as_current_span("firstline.run", attributes=_run_attributes(state, context)) as span:
            await self._budgeted(state, context, emit)
            span.set_attribute("firstline.status", state.status)
        return RunResult(state, events)

    async def resume(
        self,
        state: RunState,
        context: RunContext,
        approved: bool,
        decided_by: str,
        reason: str = "",
        on_event: EventSink | None = None,
    ) -> RunResult:
        """Continue a paused run with a human's decision on its pending destructive call."""
        if state.status != "paused" or state.pending_call is None or state.pending_approval is None:
            raise ConfigError("This run is not waiting for an approval.")
        events: list[RunEvent] = []
        emit = self._emitter(events, on_event)
        approval = context.approvals[state.pending_approval]
        approval.status = "approved" if approved else "denied"
        approval.decided_by, approval.reason = decided_by, reason
        call, agent = state.pending_call, self.agent(state.agent)
        state.pending_call, state.pending_approval, state.status, state.turns = None, None, "running", 0
        if approved:
            outcome = await self._execute(agent, agent.tool(call.name), call, context, emit, approved_by=decided_by)
        else:
            outcome = ToolOutcome(call.name, "denied", by=decided_by, reason=reason or "no reason given")
            emit("tool_refused", agent.name, tool=call.name, reason=f"denied by {decided_by}", outcome="denied")
            self._audit(context, call, "denied", outcome.for_model(), decided_by)
        state.messages.append(_tool_message(call, outcome))
        with tracer.start_as_current_span("firstline.run", attributes=_run_attributes(state, context)) as span:
            span.set_attribute("firstline.resumed", True)
            await self._budgeted(state, context, emit)
            span.set_attribute("firstline.status", state.status)
        return RunResult(state, events)

    async def stream(
        self, agent: str, user_input: str, context: RunContext, state: RunState | None = None
    ) -> AsyncIterator[RunEvent]:
        """The same run, its events yielded as they happen."""
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        task = asyncio.create_task(self.run(agent, user_input, context, state, on_event=queue.put_nowait))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        while (event := await queue.get()) is not None:
            yield event
        await task

    # -- the loop -----------------------------------------------------------------------------

    async def _budgeted(self, state: RunState, context: RunContext, emit: Callable[..., None]) -> None:
        """The loop, with a holding message when the turn's budget runs out while it is still going."""
        budget = context.budget
        timer = None
        if budget is not None and budget.held_at_s is None:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(max(0.0, budget.soft_left()), self._hold, budget, state, emit, "budget")
        try:
            await self._loop(state, context, emit)
        finally:
            if timer is not None:
                timer.cancel()

    @staticmethod
    def _hold(budget: TurnBudget, state: RunState, emit: Callable[..., None], reason: str) -> None:
        """Tell the employee once, at once, that the answer is taking longer than the channel's budget."""
        if budget.held_at_s is not None or state.status != "running":
            return
        budget.held_at_s, budget.held_reason = budget.elapsed(), reason
        emit("holding", state.agent, reason=reason, **budget.as_dict())

    async def _model_turn(
        self, model: ChatModel, request: ChatRequest, agent: Agent, emit: Callable[..., None]
    ) -> ModelResponse:
        """One model call, streamed: text deltas go out as ``token`` events as they arrive; when what was
        streamed turns out void (the model failed mid-answer), a ``token_reset`` says so."""
        streamed = False
        try:
            async for item in model.stream(request):
                if isinstance(item, ModelResponse):
                    return item
                if isinstance(item, StreamReset):
                    if streamed:
                        emit("token_reset", agent.name, model=item.model, reason=item.reason)
                        streamed = False
                elif item:
                    streamed = True
                    emit("token", agent.name, text=item)
        except BaseException:
            if streamed:
                emit("token_reset", agent.name, model=model.name, reason="failed")
            raise
        raise ModelCallError(model.name, "broken_stream", "the stream ended without a final response")

    async def _loop(self, state: RunState, context: RunContext, emit: Callable[..., None]) -> None:
        retries: dict[str, int] = {}
        start, start_agent, audited = len(state.messages), state.agent, len(context.audit)
        on_fallback = False
        while state.turns < self.max_turns:
            state.turns += 1
            agent = self.agent(state.agent)
            request = build_request(agent, state.messages, context, policy=self.policy)
            model = self.fallback if on_fallback and self.fallback is not None else self.model_for(agent)
            budget = context.budget
            if budget is not None:
                request.metadata["time_left_s"] = budget.left()
                if budget.elapsed() + self.latency.expect(model.name) > budget.soft_s:
                    self._hold(budget, state, emit, "predicted")
            with tracer.start_as_current_span(
                "firstline.model_call", attributes={"firstline.agent": agent.name}
            ) as span:
                called = time.perf_counter()
                response = await self._model_turn(model, request, agent, emit)
                self.latency.add(model.name, time.perf_counter() - called)
                usage = response.usage
                span.set_attributes({
                    "gen_ai.request.model": model.name, "gen_ai.response.model": response.model,
                    "gen_ai.usage.input_tokens": usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": usage.completion_tokens,
                    "firstline.fallbacks": len(response.fallbacks),
                })  # fmt: skip
            emit(
                "model_call",
                agent.name,
                model=response.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                latency_ms=round(response.latency_ms, 2),
                first_token_ms=None if response.first_token_ms is None else round(response.first_token_ms, 2),
                cost_usd=response.cost_usd,
                fallbacks=list(response.fallbacks),
            )
            if not response.tool_calls:
                state.messages.append(Message("assistant", response.text))
                emit("message", agent.name, text=response.text, model=response.model, expects=response.expects)
                state.status = "done"
                emit("done", agent.name, status="done")
                return
            state.messages.append(Message("assistant", response.text, response.tool_calls))
            for index, call in enumerate(response.tool_calls):
                if await self._handle(agent, call, state, context, emit, retries):
                    for skipped in response.tool_calls[index + 1 :]:
                        waiting = ToolOutcome(
                            skipped.name,
                            "not_run",
                            guidance="an earlier action is waiting for "
                            "approval; call it again afterwards if it is still needed.",
                        )
                        state.messages.append(_tool_message(skipped, waiting))  # fmt: skip
                    state.status = "paused"
                    emit("done", agent.name, status="paused", approval=state.pending_approval)
                    return
            if self._should_fall_back(on_fallback, retries, context.audit[audited:]):
                log.warning(
                    "model %s kept sending invalid tool arguments; the fallback engine takes the turn", model.name
                )
                del state.messages[start:]
                state.agent, on_fallback = start_agent, True
                emit("token_reset", agent.name, model=model.name, reason="fallback")
                retries.clear()
        state.status = "failed"
        text = (
            "I couldn't finish this in the steps I'm allowed, so I'm handing it to the service desk team: "
            "they will pick it up from this conversation."
        )
        state.messages.append(Message("assistant", text))
        emit("message", state.agent, text=text, reason="max_turns")
        emit("done", state.agent, status="failed")

    def _should_fall_back(self, on_fallback: bool, retries: dict[str, int], audit: list[dict[str, Any]]) -> bool:
        """Invalid arguments past the retry limit, a fallback to hand to, and nothing changed yet this turn."""
        if on_fallback or self.fallback is None or not any(n > self.max_tool_retries for n in retries.values()):
            return False
        return not any(a["outcome"] == "ok" and self._risk(str(a["tool"])) != "read" for a in audit)

    def _risk(self, tool_name: str) -> str:
        for agent in self.agents.values():
            found = agent.tool(tool_name)
            if found is not None:
                return found.risk
        return "read"

    async def _handle(
        self,
        agent: Agent,
        call: ToolCall,
        state: RunState,
        context: RunContext,
        emit: Callable[..., None],
        retries: dict[str, int],
    ) -> bool:
        """Handle one tool call; True when the run must pause for an approval."""
        handoff = agent.handoff(call.name)
        if handoff is not None:
            target = self.agent(handoff.agent)
            state.agent = target.name
            state.messages.append(
                Message("tool", f"Transferred to {target.name}.", tool_call_id=call.id, name=call.name)
            )
            emit("routed", target.name, source=agent.name, reason=str(call.arguments.get("reason", "")))
            return False
        tool = agent.tool(call.name)
        if tool is None:
            names = ", ".join([t.name for t in agent.tools] + [h.tool_name for h in agent.handoffs]) or "none"
            outcome = ToolOutcome(
                call.name, "unknown_tool", guidance=f"Unknown tool {call.name!r}. Available tools: {names}."
            )
        else:
            decision = self.policy.decide(tool, context, call=call)
            if decision.verdict == "needs_approval":
                approval = Approval(uuid.uuid4().hex[:12], tool.name, call.arguments, context.requester or "unknown")
                context.approvals[approval.id] = approval
                state.pending_call, state.pending_approval = call, approval.id
                emit("approval_needed", agent.name, approval=approval.id, tool=tool.name, arguments=call.arguments)
                self._audit(context, call, "approval_requested", "", None)
                return True
            if decision.verdict != "allow":
                data: dict[str, Any] = {"verdict": decision.verdict}
                if decision.escalate_to:
                    data["escalate_to"] = decision.escalate_to
                outcome = ToolOutcome(tool.name, "refused", decision.say, data, reason=decision.reason)
                emit("tool_refused", agent.name, tool=tool.name, reason=decision.reason, verdict=decision.verdict,
                     say=decision.say, escalate_to=decision.escalate_to)  # fmt: skip
                self._audit(context, call, decision.verdict, outcome.for_model(), None)
            else:
                try:
                    outcome = await self._execute(agent, tool, call, context, emit)
                except ToolRetry as exc:
                    retries[call.name] = retries.get(call.name, 0) + 1
                    if retries[call.name] > self.max_tool_retries:
                        outcome = ToolOutcome(
                            call.name,
                            "failed",
                            guidance=f"{exc} (no more retries: tell the user and offer to escalate)",
                        )
                    else:
                        outcome = ToolOutcome(call.name, "retry", guidance=str(exc))
        state.messages.append(_tool_message(call, outcome))
        return False

    async def _execute(
        self,
        agent: Agent,
        tool: Tool | None,
        call: ToolCall,
        context: RunContext,
        emit: Callable[..., None],
        approved_by: str | None = None,
    ) -> ToolOutcome:
        if tool is None:
            return ToolOutcome(call.name, "unknown_tool", guidance=f"Unknown tool {call.name!r}.")
        emit("tool_started", agent.name, tool=tool.name, arguments=call.arguments, call_id=call.id, risk=tool.risk)
        retry: ToolRetry | None = None
        span = tracer.start_span(
            "firstline.tool", attributes={"firstline.tool": tool.name, "firstline.agent": agent.name}
        )
        # A tool that changes something commits with its tool_finished event; a read-only one (a search,
        # a status check) needs no shared transaction, so it holds no write lock while it runs.
        scope = self._step_scope() if tool.risk != "read" else nullcontext()
        with trace.use_span(span, end_on_exit=True), scope:
            receipts: list[Receipt] = []
            try:
                with collect_receipts() as receipts:
                    value = await tool.invoke(context, call.arguments)
            except ToolRetry as exc:
                retry, outcome = exc, ToolOutcome(tool.name, "retry", guidance=str(exc))
            except ToolFailed as exc:
                outcome = ToolOutcome(tool.name, "failed", str(exc), exc.data, exc.guidance)
            except Exception as exc:  # a broken backend must not take the conversation down
                log.exception("tool %s failed", tool.name, exc_info=exc)
                outcome = ToolOutcome.of_error(tool.name, exc)
            else:
                outcome = ToolOutcome.of(tool.name, value)
            content = outcome.for_model()
            who: dict[str, Any] = {"approved_by": approved_by} if approved_by else {}
            if tool.risk != "read":
                who["risk"] = tool.risk
            if receipts:  # the vendor's own ids, so an admin finds this change in the vendor's logs
                who["vendor_requests"] = [r.as_dict() for r in receipts]
            if outcome.ok:
                emit("tool_finished", agent.name, tool=tool.name, ok=True, result=content, data=outcome.data,
                     call_id=call.id, **who)  # fmt: skip
            else:
                emit("tool_finished", agent.name, tool=tool.name, ok=False, error=content, outcome=outcome.outcome,
                     data=outcome.data, say=outcome.say, call_id=call.id, **who)  # fmt: skip
            self._audit(context, call, "ok" if outcome.ok else outcome.outcome, content, approved_by, receipts)
            span.set_attribute("firstline.outcome", outcome.outcome)
        if retry is not None:
            raise retry
        return outcome

    def _audit(
        self,
        context: RunContext,
        call: ToolCall,
        outcome: str,
        result: str,
        approved_by: str | None,
        receipts: Sequence[Receipt] = (),
    ) -> None:
        context.audit.append(
            {
                "tool": call.name,
                "arguments": call.arguments,
                "outcome": outcome,
                "result": result,
                "approved_by": approved_by,
                "risk": self._risk(call.name),
                "vendor_requests": [r.as_dict() for r in receipts],
            }
        )

    @staticmethod
    def _emitter(events: list[RunEvent], sink: EventSink | None) -> Callable[..., None]:
        def emit(kind: EventKind, agent: str, **data: Any) -> None:
            event = RunEvent(kind, agent, data)
            events.append(event)
            if sink is not None:
                sink(event)

        return emit


def _tool_message(call: ToolCall, outcome: ToolOutcome) -> Message:
    return Message("tool", outcome.for_model(), tool_call_id=call.id, name=call.name, result=outcome.as_dict())


def _run_attributes(state: RunState, context: RunContext) -> dict[str, Any]:
    return {"firstline.agent": state.agent, "firstline.conversation_id": context.conversation_id or ""}
