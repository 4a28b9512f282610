// The console's ticket view: fields, the full transcript (console-transcript.js), the pending approval, history,
// and the agent's actions (assign, comment, close, escalate, unlink, merge). When the ticket changes elsewhere
// (console-live.js), a notice offers to show the changes instead of re-rendering under the agent's typing.
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
import { onLive } from "/static/console-live.js";
import { visible } from "/static/console-text.js";
import { transcript } from "/static/console-transcript.js";

// A message that outlives a re-render (e.g. "Sarah Lindqvist already denied this at 14:02 UTC: …").
let flash = null;

/** Approve or deny an approval; resolves to the resumed conversation's reply. */
export function decide(approvalId, approve, reason) {
  const verb = approve ? "approve" : "deny";
  return api(`/v1/approvals/${encodeURIComponent(approvalId)}/${verb}`, { method: "POST", body: { reason } });
}

/**
 * The Approve / Deny action for one approval: a denial needs a reason (the employee is told it), errors
 * show in `error`; `after(approve)` runs once decided, `onConflict(err)` when someone else decided first
 * (the 409's detail says who decided, how, when and why).
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
      if (onConflict && err instanceof ApiError && err.status === 409) await onConflict(err);
    }
  };
}

const named = (name, email) => (email ? (name && name !== email ? `${name} <${email}>` : email) : "—");

const FIELDS = [
  ["requester", "Requester", (v, t) => named(t.requester_name, v)],
  ["specialist", "Specialist", (v, t) => t.specialist_name || agentName(v)],
  ["assignment_group", "Assignment group"],
  ["assigned_to", "Assigned to", (v, t) => named(t.assignee_name, v)],
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
    const text = format ? format(raw, ticket) : raw === null || raw === undefined || raw === "" ? "—" : String(raw);
    return el("div", {}, el("dt", { text: label }), el("dd", {}, visible(text)));
  });
  return el("dl", { class: "fields" }, items);
}

function section(title, ...children) {
  return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
}

export async function renderTicket(root, number, ctx = {}) {
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
    return renderTicket(fresh, number, ctx).catch((err) =>
      fresh.append(el("p", { class: "error", text: describeError(err) })),
    );
  };
  const shown = flash;
  flash = null;
  const changed = el("div", { class: "live-notice", role: "status" });
  const stop = onLive("tickets", async (numbers) => {
    if (!root.isConnected) return stop();
    if (!numbers.has(ticket.number) || changed.childElementCount) return;
    // Our own actions re-render with the fresh ticket: only a change made since then is news.
    const fresh = await api(`/v1/tickets/${encodeURIComponent(ticket.number)}`);
    if (fresh.updated_at === ticket.updated_at || !root.isConnected) return;
    clear(
      changed,
      el("span", { text: `${ticket.number} changed since you opened it. ` }),
      el("button", { type: "button", class: "secondary small", text: "Show the changes", on: { click: rerender } }),
    );
  });
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
    assignment(ticket, ctx.me, rerender),
    actions(ticket, rerender),
    section("History", history(ticket.history || [])),
  );
  clear(
    root,
    el("p", {}, el("a", { href: "#queue", text: "← Back to the queue" })),
    shown ? el("p", { class: "error", role: "alert", id: "ticket-notice", text: shown }) : null,
    changed,
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

// -- approval, actions, history -----------------------------------------------------------------

function approvalPanel(approval, rerender) {
  const reason = el("textarea", { id: "decision-reason", rows: 2, maxlength: 2000 });
  const error = el("p", { class: "error", role: "alert" });
  const act = decisionAction(approval.id, reason, error, () => rerender(), (err) => {
    flash = describeError(err); // shown above the ticket once it is re-read
    return rerender();
  });
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

function assignment(ticket, me, rerender) {
  const base = `/v1/tickets/${encodeURIComponent(ticket.number)}/assign`;
  const done = ["closed", "canceled", "cancelled"].includes(ticket.state);
  const mine = me && ticket.assigned_to && ticket.assigned_to.toLowerCase() === me.email.toLowerCase();
  const error = el("p", { class: "error", role: "alert" });
  const send = async (assignee, button) => {
    error.textContent = "";
    button.disabled = true;
    try {
      await api(base, { method: "POST", body: { assignee } });
      await rerender();
    } catch (err) {
      error.textContent = describeError(err);
      button.disabled = false;
    }
  };
  const toMe = el("button", { type: "button", text: "Assign to me", disabled: done || mine || !me });
  toMe.addEventListener("click", () => send(me.email, toMe));
  const release = el("button", { type: "button", class: "secondary", text: "Unassign", disabled: done || !ticket.assigned_to });
  release.addEventListener("click", () => send(null, release));
  const colleague = el("input", { id: "assign-to", name: "assign-to", type: "email", maxlength: 254, required: true });
  const other = el(
    "form",
    { class: "stack" },
    el("div", { class: "field" }, el("label", { for: "assign-to", text: "A colleague's e-mail" }), colleague),
    el("button", { type: "submit", class: "secondary", text: "Assign to colleague", disabled: done }),
  );
  other.addEventListener("submit", (event) => {
    event.preventDefault();
    send(colleague.value.trim(), other.querySelector("button"));
  });
  const now = ticket.assigned_to ? named(ticket.assignee_name, ticket.assigned_to) : "Nobody yet";
  return section(
    "Assignment",
    el("p", { class: "assignee" }, "Assigned to: ", el("strong", {}, visible(now))),
    el("div", { class: "toolbar" }, toMe, release),
    other,
    error,
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
