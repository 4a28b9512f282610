// The employee web chat: one conversation at a time, streamed replies, a live ticket card, the demo phone.
import {
  ApiError,
  MAX_MESSAGE_CHARS,
  agentName,
  api,
  clear,
  describeError,
  el,
  goToLogin,
  priorityName,
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
import { startPhone } from "/static/phone.js";
import { readEvents } from "/static/sse.js";

const CONVERSATION_KEY = "firstline.conversation";
const POLL_MS = 3000;
const WAITING = new Set(["paused", "waiting"]);
const DEFAULT_HINT = "Enter sends · Shift+Enter adds a new line";
const CODE_HINT = "Got a one-time code? Type the 6 digits here and press Enter.";

const ACTIVITY = {
  account_status: "checking your account…",
  unlock_account: "unlocking your account…",
  send_verification_code: "sending you a one-time code…",
  verify_identity: "checking your code…",
  send_password_reset_link: "sending a password reset link…",
  reset_mfa: "resetting your sign-in method…",
  kb_search: "searching the runbooks…",
  my_devices: "looking up your devices…",
  device_health: "checking your device…",
  compliance_check: "checking your device's compliance…",
  report_lost_device: "reporting the lost device…",
  remote_lock: "locking the device…",
  vpn_status: "checking the VPN…",
  site_outage_check: "checking for outages at your site…",
  printer_status: "checking the printer…",
  mailbox_quota: "checking your mailbox…",
  open_or_update_ticket: "updating your ticket…",
  mark_resolved: "resolving your ticket…",
  escalate_to_human: "handing over to the IT team…",
};

const $ = (id) => document.getElementById(id);
const log = $("messages");
const input = $("message");
const sendButton = $("send");
const inputError = $("input-error");
const counter = $("counter");
const hint = $("input-hint");
const banner = $("approval-banner");

const state = {
  me: null,
  conversationId: null,
  lastSeq: 0,
  ticket: null,
  pendingApproval: null,
  status: null,
  busy: false,
  sending: "", // the message on its way, until it is answered
  polling: false,
  pollTimer: null,
  redirecting: false,
};
let phone = { refresh() {} };

// -- small views -----------------------------------------------------------------------------

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
}

function addNode(node, before = null) {
  $("empty-note")?.remove();
  log.insertBefore(node, before);
  scrollToEnd();
  return node;
}

function speaker(agent) {
  return agent && agent !== "desk" && agent !== "triage" ? `Firstline · ${agentName(agent)}` : "Firstline";
}

function addMessage(role, text, agent = null, before = null) {
  const label = role === "user" ? "You" : speaker(agent);
  const body = el("span", { class: "body", text });
  if (role === "assistant" && text) setRich(body, text);
  return addNode(el("div", { class: `msg ${role}` }, el("span", { class: "who-said", text: label }), body), before);
}

function addLine(text, kind = "status-line", before = null) {
  return addNode(el("p", { class: kind, text }), before);
}

function chatError(text) {
  return addNode(el("p", { class: "error", text }));
}

function citationList(citations) {
  const items = citations.map((c) => {
    const title = c.title || c.source || "Runbook";
    let section = c.section_path || c.section || "";
    if (section.startsWith(`${title} > `)) section = section.slice(title.length + 3);
    const text = section && section !== title ? `${title} › ${section}` : title;
    const href = typeof c.href === "string" && c.href.startsWith("/") && !c.href.startsWith("//") ? c.href : null;
    return el("li", {}, href ? el("a", { href, target: "_blank", rel: "noopener", text }) : text);
  });
  return el("ul", { class: "citations", "aria-label": "Sources" }, items);
}

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

function updateCounter() {
  const n = input.value.length;
  counter.textContent = `${n} / ${MAX_MESSAGE_CHARS}`;
  counter.classList.toggle("over", n > MAX_MESSAGE_CHARS);
}

// -- conversation state ----------------------------------------------------------------------

function remember(id) {
  state.conversationId = id;
  sessionStorage.setItem(CONVERSATION_KEY, JSON.stringify({ id, email: state.me.email }));
}

function forget() {
  sessionStorage.removeItem(CONVERSATION_KEY);
  clearTimeout(state.pollTimer);
  Object.assign(state, { conversationId: null, lastSeq: 0, ticket: null, pendingApproval: null, status: null });
  clear(log, el("p", { id: "empty-note", class: "empty-note", text: "New conversation. How can IT help?" }));
  renderTicket();
  renderBanner();
  setCodeHint(false);
}

/** Take the ticket, approval and status of a GET /v1/conversations/{id} answer. */
function applyConversation(conversation) {
  for (const event of conversation.events || []) state.lastSeq = Math.max(state.lastSeq, event.seq || 0);
  if ("ticket" in conversation) state.ticket = conversation.ticket;
  if ("pending_approval" in conversation) state.pendingApproval = conversation.pending_approval;
  if (conversation.status) state.status = conversation.status;
  renderTicket();
  renderBanner();
}

/** Show one stored event (a reload, or what happened while we were polling). */
function renderEvent(event) {
  const data = event.data || {};
  switch (event.kind) {
    case "user_message":
      addMessage("user", data.text || "");
      break;
    case "rejected_message":
      addMessage("user", data.text || "").classList.add("failed");
      addLine(`Not sent: ${data.reason || "the message was refused"}`);
      break;
    case "assistant_message":
      if (data.text) addMessage("assistant", data.text, event.agent);
      setCodeHint(data.awaiting === "code");
      break;
    case "routed":
      if (event.agent && event.agent !== "triage") addLine(`Routed to ${agentName(event.agent)}`);
      break;
    case "ticket_change":
      if (data.action === "opened" && data.ticket) addLine(`Ticket ${data.ticket.number} opened`);
      if (data.action === "linked_to_incident" && data.ticket) addLine(`Linked to incident ${data.ticket.number}`);
      break;
    case "approval_needed":
      addLine("The IT team has been asked to approve the next step.");
      break;
    case "approval_decided": {
      const verdict = data.status === "approved" ? "approved" : "declined";
      addLine(`The IT team ${verdict} the request${data.reason ? `: ${data.reason}` : "."}`, "system-line");
      break;
    }
    default:
      break;
  }
}

async function loadConversation(id) {
  try {
    const conversation = await api(`/v1/conversations/${encodeURIComponent(id)}`);
    state.conversationId = id;
    clear(log);
    (conversation.events || []).forEach(renderEvent);
    if (!log.children.length) addLine("Conversation started. How can IT help?");
    applyConversation(conversation);
    $("conversation-note").textContent = "Continuing your conversation.";
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) forget();
    else if (!(err instanceof ApiError && err.status === 401)) chatError(describeError(err));
  }
  schedulePoll();
}

// -- polling: ticket changes, approvals, replies that arrive later ----------------------------

function shouldPoll() {
  return Boolean(state.conversationId && (state.ticket || state.pendingApproval || WAITING.has(state.status)));
}

function schedulePoll(delay = POLL_MS) {
  clearTimeout(state.pollTimer);
  if (shouldPoll() && !state.redirecting) state.pollTimer = setTimeout(poll, delay);
}

async function poll() {
  if (state.busy || state.polling || document.hidden || !state.conversationId) return schedulePoll();
  const id = state.conversationId;
  state.polling = true; // one poll at a time: two in flight could both show the same new event
  try {
    const conversation = await api(`/v1/conversations/${encodeURIComponent(id)}?after=${state.lastSeq}`);
    if (state.busy || id !== state.conversationId) return schedulePoll();
    for (const event of conversation.events || []) if ((event.seq || 0) > state.lastSeq) renderEvent(event);
    applyConversation(conversation);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    if (err instanceof ApiError && err.status === 404) return forget();
    if (err instanceof ApiError && err.status === 429) return schedulePoll(1000 * (err.retryAfter || 10));
  } finally {
    state.polling = false;
  }
  schedulePoll();
}

/** After a streamed turn: move lastSeq past it, showing only what the stream did not (a decision, a late reply). */
async function catchUp(streamedReply) {
  if (!state.conversationId) return;
  try {
    const conversation = await api(`/v1/conversations/${encodeURIComponent(state.conversationId)}?after=${state.lastSeq}`);
    let skip = streamedReply;
    for (const event of conversation.events || []) {
      if ((event.seq || 0) <= state.lastSeq) continue;
      const text = (event.data || {}).text;
      if (event.kind === "assistant_message" && text && skip && text.trim() === skip.trim()) skip = null;
      else if (event.kind === "assistant_message" || event.kind === "approval_decided") renderEvent(event);
    }
    applyConversation(conversation);
  } catch (err) {
    if (!(err instanceof ApiError && (err.status === 401 || err.status === 404))) console.warn(err);
  }
}

// -- sending ---------------------------------------------------------------------------------

async function startConversation() {
  const conversation = await api("/v1/conversations", { method: "POST", body: {} });
  remember(conversation.conversation_id || conversation.id);
  state.lastSeq = 0;
}

function onStreamEvent(turn, { event, data }) {
  const kind = event === "message" && data && !("text" in data) ? data.kind || event : event;
  if (kind === "routed") {
    turn.agent = data.agent;
    if (data.agent && data.agent !== "triage") addLine(`Routed to ${agentName(data.agent)}`, "status-line", turn.activity);
  } else if (kind === "tool" || kind.startsWith("tool_")) {
    const phase = data.phase || kind.replace("tool_", "");
    if (phase === "started") {
      turn.activity.textContent = ACTIVITY[data.tool] || "working on it…";
      turn.steps.push((ACTIVITY[data.tool] || "looking into it…").replace(/…$/, ""));
    }
  } else if (kind === "approval_needed") {
    state.pendingApproval = { id: data.approval, tool: data.tool };
    renderBanner();
  } else if (kind === "token") {
    turn.streamed += data.text || "";
    turn.body().textContent = turn.streamed;
    scrollToEnd();
  } else if (kind === "token_reset") {
    // What was drawn so far is void (the model failed mid-answer, or Firstline writes this reply itself).
    turn.streamed = "";
    if (turn.bubble) turn.body().textContent = "";
  } else if (kind === "holding") {
    if (data.text) addLine(data.text, "status-line holding", turn.activity);
    scrollToEnd();
  } else if (kind === "message") {
    if (!turn.streamed && data.text) turn.body().textContent = data.text;
  } else if ((kind === "done" || kind === "reply") && data && typeof data.reply === "string") {
    turn.reply = data;
  } else if (kind === "error") {
    turn.error = data;
  }
}

/** Put assistant text into `body`, turning **bold** into <strong> (built as text nodes, never parsed as HTML). */
function setRich(body, text) {
  const parts = String(text).split(/\*\*([^*\n][^*]*?)\*\*/g);
  body.replaceChildren(...parts.map((part, i) => (i % 2 ? el("strong", { text: part }) : document.createTextNode(part))));
}

function finishTurn(turn, reply) {
  const text = reply.reply || "";
  if (text) {
    setRich(turn.body(), text);
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
  if ("ticket" in reply && reply.ticket) state.ticket = reply.ticket;
  state.status = reply.status;
  state.pendingApproval = reply.approval && reply.approval.status === "pending" ? reply.approval : null;
  renderTicket();
  renderBanner();
  if (reply.status === "rejected") addLine("That message was not accepted.");
  const codeSent = reply.awaiting === "code";
  setCodeHint(codeSent);
  if (codeSent) phone.refresh(true);
}

async function streamTurn(response) {
  const turn = { bubble: null, agent: null, streamed: "", steps: [], reply: null, error: null };
  turn.activity = addLine("Firstline is working on it…", "activity");
  turn.body = () => {
    if (!turn.bubble) turn.bubble = addMessage("assistant", "", turn.agent, turn.activity);
    turn.bubble.classList.add("streaming");
    return turn.bubble.querySelector(".body");
  };
  try {
    await readEvents(response, (event) => onStreamEvent(turn, event));
  } catch {
    turn.error = turn.error || { detail: "The connection dropped before the answer was complete." };
  }
  if (turn.reply) {
    finishTurn(turn, turn.reply);
    return turn.reply.reply || "";
  }
  turn.bubble?.classList.remove("streaming");
  turn.activity.remove();
  const detail = (turn.error && turn.error.detail) || "The answer did not arrive.";
  chatError(`${detail} Your message was received; any answer will appear here.`);
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
  clearTimeout(state.pollTimer);
  // Clear the box now, so what the user types while this turn runs is theirs; the text comes back on failure.
  state.sending = text;
  input.value = "";
  updateCounter();
  let bubble = null;
  try {
    if (!state.conversationId) await startConversation();
    bubble = addMessage("user", text);
    const path = `/v1/conversations/${encodeURIComponent(state.conversationId)}/messages`;
    const response = await request(path, { method: "POST", body: { text, stream: true }, accept: "text/event-stream" });
    if (!response.ok) {
      const body = await readJson(response);
      if (response.status === 401) unauthenticated();
      throw new ApiError(response.status, body, retryAfterOf(response));
    }
    $("draft-note").textContent = "";
    let replyText = null;
    if ((response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      replyText = await streamTurn(response);
    } else {
      const turn = { bubble: null, streamed: "", steps: [], activity: addLine("", "activity") };
      turn.body = () => (turn.bubble ||= addMessage("assistant", "")).querySelector(".body");
      const reply = await readJson(response);
      finishTurn(turn, reply);
      replyText = reply.reply || "";
    }
    await catchUp(replyText);
  } catch (err) {
    if (!input.value) {
      input.value = text; // nothing typed since: give the message back
      updateCounter();
    }
    if (err instanceof ApiError && err.status === 401) return;
    if (bubble) {
      bubble.classList.add("failed");
      bubble.append(el("span", { class: "who-said", text: "Not sent" }));
    }
    if (err instanceof ApiError && err.status === 404 && state.conversationId) {
      forget();
      chatError("That conversation no longer exists. Your message is still in the box: press Send to start a new one.");
    } else {
      chatError(describeError(err));
    }
  } finally {
    state.busy = false;
    state.sending = "";
    sendButton.disabled = false;
    schedulePoll();
  }
}

// -- wiring ----------------------------------------------------------------------------------

setUnauthenticatedHandler(() => {
  if (state.redirecting) return;
  state.redirecting = true;
  clearTimeout(state.pollTimer);
  saveDraft({ text: input.value || state.sending, conversationId: state.conversationId });
  goToLogin("/");
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

input.addEventListener("input", () => {
  updateCounter();
  if (input.value.length <= MAX_MESSAGE_CHARS && inputError.textContent.startsWith("That paste")) {
    inputError.textContent = "";
  }
});

input.addEventListener("paste", (event) => {
  const pasted = event.clipboardData ? event.clipboardData.getData("text") : "";
  const selected = Math.abs((input.selectionEnd ?? 0) - (input.selectionStart ?? 0));
  const total = input.value.length - selected + pasted.length;
  if (total > MAX_MESSAGE_CHARS) {
    event.preventDefault();
    inputError.textContent =
      `That paste is too long: the message would be ${total.toLocaleString()} characters and the limit is ` +
      "8,000. Nothing was pasted or sent. Shorten it, or send the important part.";
  }
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

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) schedulePoll(0);
});

async function init() {
  const draft = takeDraft();
  try {
    state.me = await api("/v1/me");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) chatError(describeError(err));
    return;
  }
  const me = state.me;
  $("who").textContent = `Signed in as ${me.name || me.email}`;
  $("console-link").hidden = !(me.role === "agent" || me.role === "admin");
  if (draft && draft.text) {
    input.value = draft.text;
    $("draft-note").textContent = "We kept the message you were typing. Press Send when you're ready.";
  }
  updateCounter();
  phone = startPhone($("phone"), $("phone-screen"), $("phone-badge"));
  let stored = null;
  try {
    stored = JSON.parse(sessionStorage.getItem(CONVERSATION_KEY) || "null");
  } catch {
    stored = null;
  }
  const id = stored && stored.email === me.email ? stored.id : draft && draft.conversationId;
  if (id) {
    remember(id);
    await loadConversation(id);
  }
  input.focus();
}

init();
