// The employee web chat: one conversation at a time, streamed replies, a ticket card that follows the current
// topic, "My requests" (requests.js), live updates over Server-Sent Events (sse.js: no polling while the
// stream works), a tab-title count and opt-in desktop notifications (alerts.js), channel links (links.js).
import {
  ApiError,
  MAX_MESSAGE_CHARS,
  api,
  describeError,
  el,
  goToLogin,
  priorityName,
  randomKey,
  readJson,
  request,
  retryAfterOf,
  saveDraft,
  setUnauthenticatedHandler,
  signOut,
  stateName,
  takeDraft,
  unauthenticated,
} from "/static/common.js";
import { startAlerts } from "/static/alerts.js";
import { chatLog, citationList, setBody, speaker } from "/static/chat-log.js";
import { startComposer } from "/static/composer.js";
import { startLinks } from "/static/links.js";
import { startPhone } from "/static/phone.js";
import { startRequests } from "/static/requests.js";
import { openLiveStream } from "/static/sse.js";
import { readTurn } from "/static/chat-turn.js";

const CONVERSATION_KEY = "firstline.conversation";
const WAITING = new Set(["paused", "waiting"]);
const DEFAULT_HINT = "Enter sends · Shift+Enter adds a new line";
const CODE_HINT = "Got a one-time code? Type the 6 digits here and press Enter.";
const ALERT_KINDS = { assistant_message: "New reply from the IT helpdesk", approval_decided: "The IT team decided on your request" };

const $ = (id) => document.getElementById(id);
const input = $("message");
const sendButton = $("send");
const inputError = $("input-error");
const hint = $("input-hint");
const banner = $("approval-banner");
const composer = startComposer({ form: $("composer"), input, counter: $("counter"), error: inputError, send: () => send() });
const view = chatLog($("messages"), document.querySelector(".chat-side"), $("ticket-card"), $("phone"));

const state = {
  me: null,
  conversationId: null,
  lastSeq: 0,
  ticket: null,
  pendingApproval: null,
  status: null,
  busy: false,
  sending: "", // the message on its way, until it is answered
  draftKey: null, // { text, key }: the Idempotency-Key of a message whose answer has not arrived
  pulls: Promise.resolve(), // reads of new events, one after another
  redirecting: false,
};
let phone = { refresh: () => Promise.resolve() };
let requests = { refresh() {}, refreshSoon() {}, setCurrent() {}, markUpdated() {}, showIfNarrow() {} };
let alerts = { notice() {} };

// -- small views -----------------------------------------------------------------------------

function renderTicket() {
  const card = $("ticket-card");
  const t = state.ticket;
  card.hidden = !t;
  if (!t) return;
  $("ticket-number").textContent = t.number;
  const badge = $("ticket-state");
  badge.textContent = stateName(t.state);
  badge.className = `badge state-${t.state}`;
  $("ticket-priority").textContent = priorityName(t.priority);
  $("ticket-summary").textContent = t.short_description || "—";
  $("ticket-group").textContent = t.assignment_group || "—";
}

function renderBanner() {
  banner.hidden = !(state.pendingApproval || WAITING.has(state.status));
}

function setCodeHint(on) {
  hint.textContent = on ? CODE_HINT : DEFAULT_HINT;
  input.placeholder = on ? "Type the one-time code, e.g. 123456" : "Type your message…";
}

function codeAsked(asked) {
  setCodeHint(asked);
  view.codeAsked(asked);
  if (asked) phone.refresh(true).then(() => view.phoneLayout && view.scrollToEnd()); // the code, in view
}

// -- conversation state ----------------------------------------------------------------------

function remember(id) {
  state.conversationId = id;
  sessionStorage.setItem(CONVERSATION_KEY, JSON.stringify({ id, email: state.me.email }));
  requests.setCurrent(id);
}

function forget(note = "New conversation. How can IT help?") {
  sessionStorage.removeItem(CONVERSATION_KEY);
  Object.assign(state, { conversationId: null, lastSeq: 0, ticket: null, pendingApproval: null, status: null });
  view.reset(el("p", { id: "empty-note", class: "empty-note", text: note }));
  renderTicket();
  renderBanner();
  setCodeHint(false);
  requests.setCurrent(null);
}

/** Take the ticket (the current topic's), approval and status of a GET /v1/conversations/{id} answer. */
function applyConversation(conversation) {
  for (const event of conversation.events || []) state.lastSeq = Math.max(state.lastSeq, event.seq || 0);
  if ("ticket" in conversation) state.ticket = conversation.ticket;
  if ("pending_approval" in conversation) state.pendingApproval = conversation.pending_approval;
  if (conversation.status) state.status = conversation.status;
  renderTicket();
  renderBanner();
}

/** Show one stored event (a reload, or what the live stream told us about). */
function renderEvent(event) {
  const awaiting = view.showEvent(event);
  if (awaiting !== null) setCodeHint(awaiting);
  return awaiting;
}

/** Open conversation `id` (a reload, or a way back from My requests): show its events and continue it. */
function loadConversation(id) {
  if (state.busy) return Promise.resolve();
  remember(id);
  Object.assign(state, { lastSeq: 0, ticket: null, pendingApproval: null, status: null });
  state.pulls = state.pulls.then(() => loadNow(id)); // after any read in flight, never beside it
  return state.pulls;
}

async function loadNow(id) {
  try {
    const conversation = await api(`/v1/conversations/${encodeURIComponent(id)}`);
    if (state.conversationId !== id) return;
    view.reset();
    let awaiting = null;
    for (const event of conversation.events || []) awaiting = renderEvent(event) ?? awaiting;
    if (awaiting) codeAsked(true); // still waiting for the one-time code: show where to find it
    if (!(conversation.events || []).length) view.addLine("Conversation started. How can IT help?");
    applyConversation(conversation);
    $("conversation-note").textContent = "Continuing your conversation.";
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) forget();
    else if (!(err instanceof ApiError && err.status === 401)) view.error(describeError(err));
  }
}

/**
 * Read the events after lastSeq and show them. Reads run one after another (two at once could both show the
 * same event). After a streamed turn, `streamedReply` is the reply already on screen: only what the stream
 * did not show (a decision, a late reply, an IT agent's comment) is added then.
 */
function pull(streamedReply = undefined) {
  state.pulls = state.pulls.then(() => pullNow(streamedReply));
  return state.pulls;
}

async function pullNow(streamedReply) {
  const id = state.conversationId;
  if (!id || state.redirecting) return;
  const afterTurn = streamedReply !== undefined;
  try {
    const conversation = await api(`/v1/conversations/${encodeURIComponent(id)}?after=${state.lastSeq}`);
    if (id !== state.conversationId || (state.busy && !afterTurn)) return;
    let skip = streamedReply;
    for (const event of conversation.events || []) {
      if ((event.seq || 0) <= state.lastSeq) continue;
      const text = (event.data || {}).text;
      if (!afterTurn) renderEvent(event);
      else if (event.kind === "assistant_message" && text && skip && text.trim() === skip.trim()) skip = null;
      else if (event.kind === "assistant_message" || event.kind === "approval_decided") renderEvent(event);
    }
    applyConversation(conversation);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && !afterTurn) forget();
    else if (!(err instanceof ApiError && (err.status === 401 || err.status === 404))) console.warn(err);
  }
}

// -- live updates ------------------------------------------------------------------------------

function onConversationNotice(notice) {
  const id = notice.conversation_id;
  const kind = String(notice.kind || "");
  const title = ALERT_KINDS[kind];
  if (title) {
    alerts.notice({
      title,
      body: notice.ticket ? `Ticket ${notice.ticket}: open Firstline to read it.` : "Open Firstline to read it.",
      tag: `firstline-${id}`,
      onClick: () => id !== state.conversationId && loadConversation(id),
    });
  }
  if (id === state.conversationId) {
    if (!state.busy && (notice.seq || 0) > state.lastSeq) pull(); // during a turn, the read after it catches up
  } else if (title) {
    requests.markUpdated(id);
  }
  if (title || kind.startsWith("ticket") || kind.startsWith("approval")) requests.refreshSoon();
}

function onTicketNotice(notice) {
  if (state.ticket && notice.number === state.ticket.number && !state.busy) pull();
  requests.refreshSoon();
}

function catchUpAll() {
  if (!state.busy) pull();
  requests.refreshSoon();
}

function startLive() {
  openLiveStream("/v1/events", {
    conversation: onConversationNotice,
    ticket: onTicketNotice,
    resync: catchUpAll,
    open: catchUpAll, // what happened while the stream was (re)connecting
    poll: catchUpAll, // only when the stream keeps failing (see sse.js)
    down: () => api("/v1/me").catch(() => {}), // a 401 here sends the person to sign in again
  });
}

// -- sending ---------------------------------------------------------------------------------

async function startConversation() {
  const conversation = await api("/v1/conversations", { method: "POST", body: {} });
  remember(conversation.conversation_id || conversation.id);
  state.lastSeq = 0;
}

function finishTurn(turn, reply) {
  const text = reply.reply || "";
  if (text) {
    setBody(turn.body(), text, reply.reply_html);
  } else if (turn.bubble && !turn.streamed) {
    turn.bubble.remove();
    turn.bubble = null;
  }
  turn.bubble?.classList.remove("streaming");
  if (turn.bubble && reply.agent) turn.bubble.querySelector(".who-said").textContent = speaker(reply.agent);
  if (turn.bubble && Array.isArray(reply.citations) && reply.citations.length) {
    turn.bubble.append(citationList(reply.citations));
  }
  if (turn.steps.length) turn.activity.textContent = `Steps: ${turn.steps.join(" · ")}`;
  else turn.activity.remove();
  // The reply's ticket is the current topic's: none means this topic has none (never keep an old one).
  if ("ticket" in reply) state.ticket = reply.ticket || null;
  state.status = reply.status;
  state.pendingApproval = reply.approval && reply.approval.status === "pending" ? reply.approval : null;
  renderTicket();
  renderBanner();
  if (reply.status === "rejected") view.addLine("That message was not accepted.");
  codeAsked(reply.awaiting === "code");
  view.scrollToEnd();
}

async function streamTurn(response) {
  const turn = await readTurn(response, view, {
    approvalNeeded(data) {
      state.pendingApproval = { id: data.approval, tool: data.tool };
      renderBanner();
    },
  });
  if (turn.reply) {
    finishTurn(turn, turn.reply);
    return turn.reply.reply || "";
  }
  turn.bubble?.classList.remove("streaming");
  turn.activity.remove();
  const detail = (turn.error && turn.error.detail) || "The answer did not arrive.";
  view.error(`${detail} Your message was received; any answer will appear here.`);
  state.status = state.status || "active";
  return turn.streamed || null;
}

async function send() {
  const text = input.value;
  if (state.busy) return;
  inputError.textContent = "";
  if (!text.trim()) {
    inputError.textContent = "Type a message first.";
    return;
  }
  if (text.length > MAX_MESSAGE_CHARS) {
    inputError.textContent = `Your message is ${text.length.toLocaleString()} characters; the limit is 8,000. Shorten it before sending.`;
    return;
  }
  state.busy = true;
  sendButton.disabled = true;
  // Clear the box now, so what the user types while this turn runs is theirs; the text comes back on failure.
  state.sending = text;
  input.value = "";
  composer.update();
  let bubble = null;
  let replyText;
  try {
    await state.pulls; // a read in flight must not show this turn's events a second time
    if (!state.conversationId) await startConversation();
    bubble = view.addMessage("user", text);
    const path = `/v1/conversations/${encodeURIComponent(state.conversationId)}/messages`;
    // The same draft sent again (its answer was lost, the box gave it back) carries the same key, so Firstline
    // answers it once: the reply of the first try comes back instead of a second turn and a second ticket.
    if (state.draftKey?.text !== text) state.draftKey = { text, key: randomKey() };
    const response = await request(path, {
      method: "POST",
      body: { text, stream: true },
      accept: "text/event-stream",
      headers: { "Idempotency-Key": state.draftKey.key },
    });
    if (response.ok) state.draftKey = null;
    if (!response.ok) {
      const body = await readJson(response);
      if (response.status === 401) unauthenticated();
      throw new ApiError(response.status, body, retryAfterOf(response));
    }
    $("draft-note").textContent = "";
    if ((response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      replyText = await streamTurn(response);
    } else {
      const turn = { bubble: null, streamed: "", steps: [], activity: view.addLine("", "activity") };
      turn.body = () => (turn.bubble ||= view.addMessage("assistant", "")).querySelector(".body");
      const reply = await readJson(response);
      finishTurn(turn, reply);
      replyText = reply.reply || "";
    }
  } catch (err) {
    if (!input.value) {
      input.value = text; // nothing typed since: give the message back
      composer.update();
    }
    if (err instanceof ApiError && err.status === 401) return;
    if (bubble) {
      bubble.classList.add("failed");
      bubble.append(el("span", { class: "who-said", text: "Not sent" }));
    }
    if (err instanceof ApiError && err.status === 404 && state.conversationId) {
      forget();
      view.error("That conversation no longer exists. Your message is still in the box: press Send to start a new one.");
    } else {
      view.error(describeError(err));
    }
  } finally {
    state.busy = false;
    state.sending = "";
    sendButton.disabled = false;
  }
  if (replyText !== undefined) await pull(replyText ?? null);
  requests.refreshSoon();
}

// -- wiring ----------------------------------------------------------------------------------

setUnauthenticatedHandler(() => {
  if (state.redirecting) return;
  state.redirecting = true;
  saveDraft({ text: input.value || state.sending, conversationId: state.conversationId });
  goToLogin("/");
});

$("new-conversation").addEventListener("click", () => {
  if (state.busy) return;
  forget();
  $("conversation-note").textContent = "";
  input.focus();
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(CONVERSATION_KEY);
  signOut();
});

const menu = $("account-menu"); // the Settings menu closes with Escape or a click elsewhere, like a menu should
menu.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && menu.open) {
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});
document.addEventListener("click", (event) => {
  if (menu.open && !menu.contains(event.target)) menu.open = false;
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) catchUpAll(); // in case a buffering proxy held the live notices back
});

async function init() {
  const draft = takeDraft();
  try {
    state.me = await api("/v1/me");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) view.error(describeError(err));
    return;
  }
  const me = state.me;
  $("who").textContent = `Signed in as ${me.name || me.email}`;
  $("menu-who").textContent = `Signed in as ${me.name || me.email} (${me.email})`;
  $("console-link").hidden = !(me.role === "agent" || me.role === "admin");
  if (draft && draft.text) {
    input.value = draft.text;
    $("draft-note").textContent = "We kept the message you were typing. Press Send when you're ready.";
  }
  composer.update();
  phone = startPhone($("phone"), $("phone-screen"), $("phone-badge"));
  alerts = startAlerts($("notify-toggle"), $("notify-status"));
  startLinks({ form: $("link-form"), input: $("link-code"), status: $("link-status"), list: $("link-list") });
  requests = startRequests({
    panel: $("requests"),
    list: $("requests-list"),
    status: $("requests-status"),
    toggle: $("requests-toggle"),
    close: $("requests-close"),
    badge: $("requests-badge"),
    onOpen: (id) => {
      loadConversation(id);
      input.focus();
    },
  });
  let stored = null;
  try {
    stored = JSON.parse(sessionStorage.getItem(CONVERSATION_KEY) || "null");
  } catch {
    stored = null;
  }
  const id = stored && stored.email === me.email ? stored.id : draft && draft.conversationId;
  const listed = requests.refresh();
  if (id) {
    await loadConversation(id);
  } else {
    // A new session: show what the person asked before (My requests) rather than a blank page.
    await listed;
    // Not once a message went meanwhile (a slow list must never wipe a turn under way and its conversation).
    if (requests.count && !state.conversationId && !state.busy) {
      forget("Pick up a request from My requests, or describe a new problem below.");
      requests.showIfNarrow();
    }
  }
  startLive();
  document.querySelector(".chat-layout").removeAttribute("aria-busy");
  if (!document.body.classList.contains("requests-open")) input.focus();
}

init();
