// The console's ticket view: fields, the full transcript (tool calls with arguments and results), the pending
// approval, history, and the agent's actions (comment, close, escalate).
import {
  ApiError,
  agentName,
  api,
  clear,
  describeError,
  el,
  percent,
  pretty,
  priorityBadge,
  slaBadge,
  stateBadge,
  when,
} from "/static/common.js";
import { visible } from "/static/console-text.js";

/** Approve or deny an approval; resolves to the resumed conversation's reply. */
export function decide(approvalId, approve, reason) {
  const verb = approve ? "approve" : "deny";
  return api(`/v1/approvals/${encodeURIComponent(approvalId)}/${verb}`, { method: "POST", body: { reason } });
}

/**
 * The Approve / Deny action for one approval: a denial needs a reason (the employee is told it), errors
 * show in `error`; `after(approve)` runs once decided, `onConflict()` when someone else decided first.
 */
export function decisionAction(approvalId, reason, error, after, onConflict = null) {
  return async (approve) => {
    error.textContent = "";
    if (!approve && !reason.value.trim()) {
      error.textContent = "Give a reason to deny: the employee is told.";
      reason.focus();
      return;
    }
    try {
      await decide(approvalId, approve, reason.value.trim());
      await after(approve);
    } catch (err) {
      error.textContent = describeError(err);
      if (onConflict && err instanceof ApiError && err.status === 409) await onConflict();
    }
  };
}

const FIELDS = [
  ["requester", "Requester"],
  ["specialist", "Specialist", agentName],
  ["assignment_group", "Assignment group"],
  ["assigned_to", "Assigned to"],
  ["category", "Category"],
  ["intent", "Intent"],
  ["impact", "Impact"],
  ["urgency", "Urgency"],
  ["opened_at", "Opened", when],
  ["updated_at", "Updated", when],
  ["respond_by", "Respond by", when],
  ["due_at", "Due", when],
  ["resolved_at", "Resolved", when],
  ["closed_at", "Closed", when],
  ["sla_used", "SLA used", percent],
  ["parent", "Parent incident"],
  ["tags", "Tags", (tags) => (tags && tags.length ? tags.join(", ") : "—")],
];

function fieldList(ticket) {
  const items = FIELDS.filter(([key]) => key in ticket).map(([key, label, format]) => {
    const raw = ticket[key];
    const text = format ? format(raw) : raw === null || raw === undefined || raw === "" ? "—" : String(raw);
    return el("div", {}, el("dt", { text: label }), el("dd", {}, visible(text)));
  });
  return el("dl", { class: "fields" }, items);
}

function section(title, ...children) {
  return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
}

export async function renderTicket(root, number) {
  root.append(el("p", { class: "hint" }, visible(`Loading ${number}…`)));
  const ticket = await api(`/v1/tickets/${encodeURIComponent(number)}`);
  let conversation = null;
  let conversationError = null;
  if (ticket.conversation_id) {
    try {
      conversation = await api(`/v1/conversations/${encodeURIComponent(ticket.conversation_id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      conversationError = describeError(err);
    }
  }
  const rerender = () => {
    const fresh = el("div", { class: "stack" });
    root.replaceWith(fresh);
    return renderTicket(fresh, number).catch((err) => fresh.append(el("p", { class: "error", text: describeError(err) })));
  };
  const left = el(
    "div",
    { class: "stack" },
    section(
      "Details",
      fieldList(ticket),
      el("h3", { text: "Description" }),
      el("p", { class: "pre-wrap" }, visible(ticket.description || "—")),
      ticket.resolution_note ? el("h3", { text: "Resolution note" }) : null,
      ticket.resolution_note ? el("p", {}, visible(ticket.resolution_note)) : null,
    ),
    section(
      "Conversation",
      conversation
        ? transcript(conversation.events || [])
        : el("p", { class: "hint", text: conversationError || "This ticket has no chat conversation." }),
    ),
  );
  const right = el(
    "div",
    { class: "stack" },
    conversation && conversation.pending_approval ? approvalPanel(conversation.pending_approval, rerender) : null,
    actions(ticket, rerender),
    section("History", history(ticket.history || [])),
  );
  clear(
    root,
    el("p", {}, el("a", { href: "#queue", text: "← Back to the queue" })),
    el("h1", {}, el("span", { class: "ticket-number", text: ticket.number }), " — ", visible(ticket.short_description)),
    el(
      "p",
      { class: "toolbar" },
      stateBadge(ticket.state),
      priorityBadge(ticket.priority),
      slaBadge(ticket),
      ticket.major_incident ? el("span", { class: "badge p1", text: "Major incident" }) : null,
    ),
    el("div", { class: "two-col" }, left, right),
  );
}

// -- transcript --------------------------------------------------------------------------------

function toolCall(data, agent) {
  const summary = el("summary", {}, el("strong", {}, visible(data.tool || "tool")), ` · ${agentName(agent)} · running`);
  const node = el(
    "details",
    { class: "tool-call", dataset: { tool: data.tool || "" } },
    summary,
    el("div", { class: "hint", text: "Arguments" }),
    el("pre", { class: "tool-arguments" }, visible(pretty(data.arguments ?? {}))),
  );
  node.summaryText = (text) => {
    summary.lastChild.textContent = ` · ${agentName(agent)} · ${text}`;
  };
  return node;
}

export function transcript(events) {
  const list = el("div", { class: "transcript" });
  const calls = new Map();
  for (const event of events) {
    const data = event.data || {};
    const stamp = when(event.created_at);
    switch (event.kind) {
      case "user_message":
      case "rejected_message":
        list.append(message("user", data.text, `Employee · ${stamp}`, event.kind === "rejected_message"));
        if (data.reason) list.append(line(`Refused: ${data.reason}`));
        break;
      case "assistant_message":
        list.append(message("assistant", data.text || `(no text; status ${data.status || "—"})`, `${agentName(event.agent)} · ${stamp}`));
        break;
      case "routed":
        list.append(line(`Routed to ${agentName(event.agent)}${data.reason ? ` — ${data.reason}` : ""} (${data.source || "?"})`));
        break;
      case "tool_started": {
        const node = toolCall(data, event.agent);
        if (data.call_id) calls.set(data.call_id, node);
        list.append(node);
        break;
      }
      case "tool_finished":
      case "tool_refused": {
        let node = data.call_id && calls.get(data.call_id);
        if (!node) list.append((node = toolCall(data, event.agent)));
        const ok = event.kind === "tool_finished" && data.ok !== false;
        node.summaryText(event.kind === "tool_refused" ? "refused" : ok ? "ok" : "failed");
        node.classList.add(ok ? "ok" : "failed");
        node.append(
          el("div", { class: "hint", text: ok ? "Result" : "Result (error)" }),
          el("pre", { class: "tool-result" }, visible(pretty(data.result ?? data.error ?? data.reason ?? ""))),
        );
        break;
      }
      case "approval_needed":
        list.append(line(`Approval requested for ${data.tool}${data.approval ? ` (${data.approval})` : ""}`, "system-line"));
        break;
      case "approval_decided":
        list.append(
          line(`${data.status === "approved" ? "Approved" : "Denied"} by ${data.decided_by || "?"}${data.reason ? `: ${data.reason}` : ""}`, "system-line"),
        );
        break;
      case "ticket_change":
        list.append(line(`Ticket ${data.action || "changed"}: ${(data.ticket && data.ticket.number) || ""}`));
        break;
      case "model_call":
        list.append(
          line(`Model call: ${data.model || "?"} · ${data.prompt_tokens ?? 0}+${data.completion_tokens ?? 0} tokens · ${data.latency_ms ?? "?"} ms`),
        );
        break;
      case "done":
        break;
      default:
        list.append(
          el("details", {}, el("summary", { text: `${event.kind} · ${agentName(event.agent)} · ${stamp}` }), el("pre", {}, visible(pretty(data)))),
        );
    }
  }
  if (!list.children.length) list.append(el("p", { class: "hint", text: "No messages yet." }));
  return list;
}

function message(role, text, label, failed = false) {
  return el(
    "div",
    { class: `msg ${role}${failed ? " failed" : ""}` },
    el("span", { class: "who-said", text: label }),
    el("span", { class: "body" }, visible(text || "")),
  );
}

function line(text, kind = "status-line") {
  return el("p", { class: kind }, visible(text));
}

// -- approval, actions, history -----------------------------------------------------------------

function approvalPanel(approval, rerender) {
  const reason = el("textarea", { id: "decision-reason", rows: 2, maxlength: 2000 });
  const error = el("p", { class: "error", role: "alert" });
  const act = decisionAction(approval.id, reason, error, () => rerender());
  return el(
    "section",
    { class: "panel", "aria-labelledby": "approval-title" },
    el("h2", { id: "approval-title", text: "Waiting for your approval" }),
    el("p", {}, el("strong", {}, visible(approval.tool)), " requested by ", visible(approval.requested_by || "the employee")),
    el("pre", {}, visible(pretty(approval.arguments || {}))),
    el("div", { class: "field" }, el("label", { for: "decision-reason", text: "Reason (required to deny)" }), reason),
    error,
    el(
      "div",
      { class: "toolbar" },
      el("button", { type: "button", text: "Approve", on: { click: () => act(true) } }),
      el("button", { type: "button", class: "danger", text: "Deny", on: { click: () => act(false) } }),
    ),
  );
}

function form(title, fields, button, submit) {
  const error = el("p", { class: "error", role: "alert" });
  const node = el("form", { class: "stack" }, el("h3", { text: title }), ...fields, error, el("button", { type: "submit", text: button }));
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const submitButton = node.querySelector("button[type=submit]");
    submitButton.disabled = true;
    try {
      await submit(node);
    } catch (err) {
      error.textContent = describeError(err);
    } finally {
      submitButton.disabled = false;
    }
  });
  return node;
}

function textarea(id, label, required = true) {
  return el(
    "div",
    { class: "field" },
    el("label", { for: id, text: label }),
    el("textarea", { id, name: id, rows: 3, required, maxlength: 4000 }),
  );
}

function actions(ticket, rerender) {
  const base = `/v1/tickets/${encodeURIComponent(ticket.number)}`;
  const done = ticket.state === "closed" || ticket.state === "cancelled";
  const comment = form(
    "Add a comment",
    [
      textarea("comment-body", "Comment"),
      el(
        "label",
        { class: "hint" },
        el("input", { type: "checkbox", id: "comment-internal", name: "internal", checked: true }),
        " Internal work note (only the IT team sees it)",
      ),
    ],
    "Add comment",
    async (f) => {
      const body = f.elements["comment-body"].value.trim();
      if (!body) throw new Error("Write the comment first.");
      await api(`${base}/comments`, { method: "POST", body: { body, internal: f.elements.internal.checked } });
      await rerender();
    },
  );
  const close = form("Close the ticket", [textarea("close-note", "Resolution note")], "Close ticket", async (f) => {
    const note = f.elements["close-note"].value.trim();
    if (!note) throw new Error("Write a resolution note first.");
    await api(`${base}/close`, { method: "POST", body: { note } });
    await rerender();
  });
  const escalate = form(
    "Escalate",
    [
      el(
        "div",
        { class: "field" },
        el("label", { for: "escalate-group", text: "Assignment group (optional)" }),
        el("input", { id: "escalate-group", name: "escalate-group", type: "text", maxlength: 100 }),
      ),
      textarea("escalate-summary", "Summary for the next team"),
    ],
    "Escalate",
    async (f) => {
      const summary = f.elements["escalate-summary"].value.trim();
      if (!summary) throw new Error("Write a summary for the next team first.");
      const group = f.elements["escalate-group"].value.trim() || null;
      await api(`${base}/escalate`, { method: "POST", body: { group, summary } });
      await rerender();
    },
  );
  // Major incidents: take this ticket out of its parent, or close it as a duplicate of another (agents only).
  const unlink = ticket.parent
    ? form(`Linked to major incident ${ticket.parent}`, [], "Unlink from the incident", async () => {
        await api(`${base}/unlink`, { method: "POST" });
        await rerender();
      })
    : null;
  const merge = form(
    "Merge as a duplicate",
    [
      el(
        "div",
        { class: "field" },
        el("label", { for: "merge-into", text: "Ticket that stays open (e.g. INC0001234)" }),
        el("input", { id: "merge-into", name: "merge-into", type: "text", maxlength: 32, required: true }),
      ),
    ],
    "Merge into it",
    async (f) => {
      const into = f.elements["merge-into"].value.trim();
      if (!into) throw new Error("Name the ticket that stays open first.");
      await api(`${base}/merge`, { method: "POST", body: { into } });
      await rerender();
    },
  );
  const locked = [close, escalate, merge, ...(unlink ? [unlink] : [])];
  if (done) for (const button of locked.flatMap((f) => [...f.querySelectorAll("button")])) button.disabled = true;
  return section("Actions", comment, close, escalate, unlink, merge);
}

function history(entries) {
  if (!entries.length) return el("p", { class: "hint", text: "No history yet." });
  return el(
    "ol",
    { class: "history" },
    entries.map((entry) => {
      const change = entry.field ? `${entry.field}: ${entry.old_value ?? "—"} → ${entry.new_value ?? "—"}` : null;
      return el(
        "li",
        { class: entry.public === false ? "internal" : "" },
        el(
          "div",
          { class: "hint" },
          visible(`${when(entry.created_at)} · ${entry.author || "?"} · ${entry.kind || "entry"}`),
          entry.public === false ? " · internal" : "",
        ),
        change ? el("div", {}, visible(change)) : null,
        entry.body ? el("div", { class: "pre-wrap" }, visible(entry.body)) : null,
      );
    }),
  );
}
