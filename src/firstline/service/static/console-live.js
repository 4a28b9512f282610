// Live updates for the agent console: one EventSource on GET /v1/events (the signed-in cookie), no polling.
//
// The server sends `event: ticket` {number, by} when a ticket changes, `event: conversation` {conversation_id, seq,
// kind, ticket} for every stored conversation event, `event: approvals` {pending} when approvals change, and
// `event: resync` when this stream fell behind. Views subscribe with onLive("tickets" | "approvals", fn); bursts
// (a turn stores several events) are folded into one call per view after DEBOUNCE_MS, with the ticket numbers
// that changed (empty when unknown). When the stream reconnects, every view refreshes: it may have missed notices.

const DEBOUNCE_MS = 250;
const TICKET_KINDS = new Set(["ticket_change", "ticket_update"]);
const APPROVAL_KINDS = new Set(["approval_needed", "approval_decided"]);

const listeners = { tickets: new Set(), approvals: new Set(), pending: new Set() };
const pendingChanges = { tickets: new Set(), approvals: new Set() };
const timers = {};
let source = null;

/** Call fn(changedNumbers) when tickets or approvals change; returns the function that stops it. */
export function onLive(kind, fn) {
  listeners[kind].add(fn);
  return () => listeners[kind].delete(fn);
}

function fire(kind) {
  const changed = new Set(pendingChanges[kind]);
  pendingChanges[kind].clear();
  for (const fn of [...listeners[kind]]) {
    try {
      const result = fn(changed);
      if (result && typeof result.catch === "function") result.catch(() => {});
    } catch {
      /* one view's failure must not stop the others */
    }
  }
}

function soon(kind, number = null) {
  if (number) pendingChanges[kind].add(number);
  clearTimeout(timers[kind]);
  timers[kind] = setTimeout(() => fire(kind), DEBOUNCE_MS);
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return {};
  }
}

/** Open the stream once (a no-op when already open or when the browser has no EventSource). */
export function startLive() {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource("/v1/events");
  let opened = false;
  source.addEventListener("open", () => {
    if (opened) {
      soon("tickets");
      soon("approvals");
    }
    opened = true;
  });
  source.addEventListener("ticket", (event) => soon("tickets", parse(event).number || null));
  source.addEventListener("conversation", (event) => {
    const data = parse(event);
    if (TICKET_KINDS.has(data.kind)) soon("tickets", typeof data.ticket === "string" ? data.ticket : null);
    if (APPROVAL_KINDS.has(data.kind)) soon("approvals");
  });
  source.addEventListener("approvals", (event) => {
    const { pending } = parse(event);
    if (Number.isFinite(pending)) for (const fn of [...listeners.pending]) fn(pending);
    soon("approvals");
  });
  source.addEventListener("resync", () => {
    soon("tickets");
    soon("approvals");
  });
}
