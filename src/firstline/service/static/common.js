// Shared by the chat, the console and the login page: the fetch wrapper, safe DOM building, formatting.
// Untrusted text only ever reaches the page through textContent (see el()).

export const MAX_MESSAGE_CHARS = 8000;
const DRAFT_KEY = "firstline.draft";

/** An HTTP error with the API's JSON body ({error, detail, fields?}) and the Retry-After seconds. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

let onUnauthenticated = null;

/** Called (once per 401) before the ApiError is thrown; pages use it to save drafts and go to /login. */
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

export function unauthenticated() {
  if (onUnauthenticated) onUnauthenticated();
}

function headersFor(method, body) {
  // Every request carries the CSRF header; state-changing ones also say they send JSON (uploads: multipart).
  const headers = { Accept: "application/json", "X-Requested-With": "firstline" };
  if (method !== "GET" && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  return headers;
}

/** fetch() with the session cookie and the CSRF header; returns the Response (network errors → ApiError 0). */
export async function request(path, { method = "GET", body, signal, accept, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { ...headersFor(method, body), ...headers }, signal };
  if (accept) init.headers.Accept = accept;
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) init.body = JSON.stringify(body);
  else if (method !== "GET") init.body = "{}";
  try {
    return await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, { error: "NetworkError", detail: "Could not reach Firstline. Check your connection." });
  }
}

/** A random key (an Idempotency-Key): crypto.randomUUID needs a secure context, getRandomValues does not. */
export function randomKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function readJson(response) {
  const text = await response.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { error: "BadResponse", detail: text.slice(0, 300) };
  }
}

export function retryAfterOf(response) {
  const raw = response.headers.get("Retry-After");
  const seconds = raw === null ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(seconds) ? seconds : null;
}

/** Throws ApiError unless the response is 2xx; calls the 401 handler first. */
export async function checked(response) {
  if (response.ok) return response.status === 204 ? {} : readJson(response);
  const body = await readJson(response);
  if (response.status === 401) unauthenticated();
  throw new ApiError(response.status, body, retryAfterOf(response));
}

/** JSON API call: resolves to the parsed body, rejects with ApiError. */
export async function api(path, options = {}) {
  return checked(await request(path, options));
}

/** One sentence for the person: what went wrong and what to do. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return err && err.message ? err.message : `Something went wrong: ${err}`;
  const detail = err.body.detail || err.body.reply || "";
  if (err.status === 0) return err.body.detail;
  if (err.status === 429) {
    const wait = err.retryAfter ?? 30;
    return `Too many requests, try again in ${wait} s.`;
  }
  if (err.status === 401) return "Your session has expired. Please sign in again.";
  if (err.status === 403) return detail || "You are not allowed to do that.";
  if (err.status === 413) return detail || "That is too long for Firstline to accept.";
  if (err.status >= 500) return `Firstline had a problem (${err.status}). ${detail || "Please try again in a moment."}`;
  if (err.body.fields && err.body.fields.length) {
    return `${detail || "Please check the form."} ${err.body.fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`;
  }
  return detail || `Request failed (${err.status}).`;
}

/**
 * Build an element. attrs: plain attributes, plus `text` (textContent), `class`, `on` ({event: handler}),
 * `dataset`. Children: nodes or strings (strings become text nodes, never HTML).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A same-origin path to return to after login, or "/" (never another site, never `//host`). */
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return "/";
  try {
    const url = new URL(raw, window.location.origin);
    if (url.origin !== window.location.origin) return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}

export function goToLogin(next) {
  const target = safeNext(next || window.location.pathname + window.location.hash);
  window.location.assign(`/login?next=${encodeURIComponent(target)}`);
}

export function saveDraft(draft) {
  try {
    sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch {
    /* storage full or disabled: nothing more to do */
  }
}

export function takeDraft() {
  try {
    const raw = sessionStorage.getItem(DRAFT_KEY);
    sessionStorage.removeItem(DRAFT_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export async function signOut() {
  try {
    await request("/v1/auth/logout", { method: "POST" });
  } finally {
    window.location.assign("/login");
  }
}

// -- formatting ------------------------------------------------------------------------------

const STATE_NAMES = {
  new: "New",
  in_progress: "In progress",
  on_hold: "On hold",
  resolved: "Resolved",
  closed: "Closed",
  cancelled: "Cancelled",
};

export function stateName(state) {
  if (!state) return "—";
  return STATE_NAMES[state] || String(state).replaceAll("_", " ");
}

export function priorityName(priority) {
  return priority === null || priority === undefined || priority === "" ? "—" : `P${priority}`;
}

const AGENT_NAMES = {
  security: "Security",
  device: "Devices",
  network: "Network",
  access: "Access",
  hardware: "Hardware",
  software: "Software",
  email: "E-mail",
  mailbox: "E-mail",
  triage: "Triage",
};

export function agentName(agent) {
  if (!agent) return "—";
  return AGENT_NAMES[agent] || String(agent).charAt(0).toUpperCase() + String(agent).slice(1).replaceAll("_", " ");
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  let s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  return `${minutes} min`;
}

export function age(iso, now = Date.now()) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? duration((now - t) / 1000) : "—";
}

export function when(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "—";
  return new Date(t).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function percent(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  return `${(Number(value) * 100).toFixed(1)} %`;
}

export function usd(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  const v = Number(value);
  return v !== 0 && Math.abs(v) < 0.01 ? `$${v.toFixed(5)}` : `$${v.toFixed(2)}`;
}

export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** "Overdue" / "At risk" / "On track" for a ticket (resolved ones: "Met" or "Missed"). */
export function slaOf(ticket) {
  const done = ticket.state === "resolved" || ticket.state === "closed" || ticket.state === "cancelled";
  if (ticket.overdue) return { key: "overdue", label: done ? "Missed" : "Overdue" };
  if (done) return { key: "ok", label: "Met" };
  if (typeof ticket.sla_used === "number" && ticket.sla_used >= 0.75) return { key: "at_risk", label: "At risk" };
  return { key: "ok", label: "On track" };
}

export function priorityBadge(priority) {
  return el("span", { class: `badge p${priority}`, text: priorityName(priority) });
}

export function slaBadge(ticket) {
  const sla = slaOf(ticket);
  return el("span", { class: `badge sla-${sla.key}`, text: sla.label });
}

export function stateBadge(state) {
  return el("span", { class: `badge state-${state}`, text: stateName(state) });
}
