// The agent console: hash routes (#queue?filters, #ticket/INC…, #approvals, #knowledge, #analytics) over one <main>,
// count badges on the tabs, and live updates over SSE (console-live.js): no polling timers.
import {
  ApiError,
  api,
  clear,
  describeError,
  el,
  goToLogin,
  pretty,
  setUnauthenticatedHandler,
  signOut,
  when,
} from "/static/common.js";
import { renderAnalytics, renderKnowledge } from "/static/console-insights.js";
import { onLive, startLive } from "/static/console-live.js";
import { renderQueue } from "/static/console-queue.js";
import { visible } from "/static/console-text.js";
import { decisionAction, renderTicket } from "/static/console-ticket.js";

const view = document.getElementById("view");
const tabs = document.getElementById("tabs");
const ctx = { me: null, route: 0 };

setUnauthenticatedHandler(() => goToLogin(`/console${window.location.hash}`));

// -- count badges --------------------------------------------------------------------------------

function setBadge(tab, count, what) {
  const link = tabs.querySelector(`[data-tab=${tab}]`);
  if (!link) return;
  let badge = link.querySelector(".count");
  if (!badge) {
    badge = el("span", { class: "count" });
    link.append(" ", badge);
  }
  badge.dataset.count = String(count);
  badge.hidden = !count;
  clear(badge, String(count), el("span", { class: "visually-hidden", text: ` ${what}` }));
}

async function refreshCounts() {
  try {
    const counts = await api("/v1/tickets/counts");
    setBadge("queue", counts.open, "open tickets");
    setBadge("approvals", counts.pending_approvals, "waiting for a decision");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err; // the 401 handler goes to the login page
  }
}

// -- approvals -------------------------------------------------------------------------------

async function renderApprovals(root) {
  const status = el("p", { class: "hint", role: "status", text: "Loading approvals…" });
  // What happened to a decision (someone else decided first) stays here while the list below refreshes.
  const notice = el("p", { class: "error", role: "alert", id: "approvals-notice" });
  const list = el("div", { class: "table-wrap" });
  root.append(el("h1", { text: "Pending approvals" }), notice, status, list);
  let done = "";
  const load = async () => {
    try {
      const { approvals = [] } = await api("/v1/approvals?status=pending");
      const waiting = approvals.length ? `${approvals.length} waiting for a decision` : "Nothing waiting for approval.";
      clear(status, visible(done ? `${done} ${waiting}` : waiting));
      clear(list, approvals.length ? approvalsTable(approvals, { load, said }) : null);
    } catch (err) {
      status.textContent = "";
      clear(list, el("p", { class: "error", role: "alert", text: describeError(err) }));
    }
  };
  const said = (text, conflict = false) => {
    done = conflict ? "" : text;
    notice.textContent = conflict ? text : "";
  };
  const stop = onLive("approvals", () => (root.isConnected ? load() : stop()));
  await load();
}

function approvalsTable(approvals, { load, said }) {
  const rows = approvals.map((a) => {
    const reasonId = `reason-${a.id}`;
    const reason = el("input", { id: reasonId, type: "text", maxlength: 2000, placeholder: "Reason" });
    const error = el("p", { class: "error", role: "alert" });
    const who = a.requester_name || a.requester || a.requested_by;
    const act = decisionAction(
      a.id,
      reason,
      error,
      async (approve) => {
        said(`${approve ? "Approved" : "Denied"} ${a.tool} for ${who}.`); // ahead of what is still waiting
        await load();
      },
      async (err) => {
        said(`${a.tool} for ${who}: ${describeError(err)}`, true);
        await load();
      },
    );
    const ticket = a.ticket_number
      ? el("a", { href: `#ticket/${encodeURIComponent(a.ticket_number)}`, text: a.ticket_number })
      : "—";
    return el(
      "tr",
      { dataset: { approval: a.id } },
      el("td", { text: when(a.created_at) }),
      el("td", { title: a.requester || a.requested_by }, visible(who)),
      el("td", {}, ticket),
      el("td", {}, el("strong", {}, visible(a.tool)), el("pre", {}, visible(pretty(a.arguments || {})))),
      el(
        "td",
        {},
        el(
          "div",
          { class: "stack" },
          el("button", { type: "button", text: "Approve", on: { click: () => act(true) } }),
          el("label", { for: reasonId, class: "visually-hidden", text: `Reason to deny ${a.tool}` }),
          reason,
          el("button", { type: "button", class: "danger", text: "Deny", on: { click: () => act(false) } }),
          error,
        ),
      ),
    );
  });
  return el(
    "table",
    {},
    el(
      "thead",
      {},
      el("tr", {}, ["Requested", "Requester", "Ticket", "Action", "Decision"].map((h) => el("th", { scope: "col", text: h }))),
    ),
    el("tbody", {}, rows),
  );
}

// -- routing ---------------------------------------------------------------------------------

const ROUTES = {
  queue: renderQueue,
  ticket: renderTicket,
  approvals: renderApprovals,
  knowledge: renderKnowledge,
  analytics: renderAnalytics,
};

/** "#queue?sort=priority" -> ["queue", "", URLSearchParams]; "#ticket/INC1" -> ["ticket", "INC1", …]. */
function parseHash() {
  const hash = window.location.hash.replace(/^#/, "") || "queue";
  const mark = hash.indexOf("?");
  const path = mark === -1 ? hash : hash.slice(0, mark);
  const query = new URLSearchParams(mark === -1 ? "" : hash.slice(mark + 1));
  const [name, ...rest] = path.split("/");
  return [name, decodeURIComponent(rest.join("/")), query];
}

async function route(event) {
  const [name, param, query] = parseHash();
  const render = ROUTES[name] || renderQueue;
  const tab = name === "ticket" ? "queue" : ROUTES[name] ? name : "queue";
  for (const link of tabs.querySelectorAll("a")) {
    if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const token = ++ctx.route;
  const root = el("div", { class: "stack" });
  view.replaceChildren(root);
  try {
    await render(root, render === renderQueue ? query : param, ctx);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    root.append(el("p", { class: "error", role: "alert", text: describeError(err) }));
  }
  const heading = root.querySelector("h1");
  if (heading && token === ctx.route && event) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

async function init() {
  document.getElementById("sign-out").addEventListener("click", signOut);
  try {
    ctx.me = await api("/v1/me");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) clear(view, el("p", { class: "error", text: describeError(err) }));
    return;
  }
  clear(document.getElementById("who"), visible(`${ctx.me.name || ctx.me.email} (${ctx.me.role})`));
  if (ctx.me.role !== "agent" && ctx.me.role !== "admin") {
    clear(
      view,
      el("h1", { text: "Not allowed" }),
      el("p", { text: "The agent console is for the IT team. Your account can use the web chat to get help." }),
      el("p", {}, el("a", { href: "/", class: "button", text: "Go to the chat" })),
    );
    return;
  }
  tabs.hidden = false;
  window.addEventListener("hashchange", route);
  onLive("tickets", refreshCounts);
  onLive("approvals", refreshCounts);
  onLive("pending", (pending) => setBadge("approvals", pending, "waiting for a decision"));
  startLive();
  refreshCounts();
  await route();
}

init();
