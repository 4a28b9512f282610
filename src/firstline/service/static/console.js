// The agent console: hash routes (#queue, #ticket/INC…, #approvals, #knowledge, #analytics) over one <main>.
import {
  ApiError,
  age,
  agentName,
  api,
  clear,
  describeError,
  el,
  goToLogin,
  pretty,
  setUnauthenticatedHandler,
  signOut,
  priorityBadge,
  slaBadge,
  stateName,
  when,
} from "/static/common.js";
import { renderAnalytics, renderKnowledge } from "/static/console-insights.js";
import { visible } from "/static/console-text.js";
import { decisionAction, renderTicket } from "/static/console-ticket.js";

const view = document.getElementById("view");
const tabs = document.getElementById("tabs");
const ctx = { me: null, route: 0 };

setUnauthenticatedHandler(() => goToLogin(`/console${window.location.hash}`));

// -- queue -----------------------------------------------------------------------------------

const STATES = ["new", "in_progress", "on_hold", "resolved", "closed", "cancelled"];
const filters = { state: "", priority: "", specialist: "", assignment_group: "", sla: "", q: "" };
const known = { specialist: new Set(), assignment_group: new Set() };

function select(id, label, options, value) {
  return el(
    "div",
    { class: "field" },
    el("label", { for: id, text: label }),
    el(
      "select",
      { id, name: id.replace("f-", "") },
      options.map(([v, text]) => el("option", { value: v, text, selected: v === value })),
    ),
  );
}

function textField(id, label, value, listId = null, type = "text") {
  return el(
    "div",
    { class: "field" },
    el("label", { for: id, text: label }),
    el("input", { id, name: id.replace("f-", ""), type, value, list: listId }),
  );
}

async function renderQueue(root) {
  const form = el(
    "form",
    { class: "filters panel", role: "search", "aria-label": "Filter tickets" },
    select("f-state", "State", [["", "Any"], ...STATES.map((s) => [s, stateName(s)])], filters.state),
    select("f-priority", "Priority", [["", "Any"], ...[1, 2, 3, 4, 5].map((p) => [String(p), `P${p}`])], filters.priority),
    textField("f-specialist", "Specialist", filters.specialist, "specialists"),
    textField("f-assignment_group", "Assignment group", filters.assignment_group, "groups"),
    select(
      "f-sla",
      "SLA",
      [["", "Any"], ["overdue", "Overdue"], ["at_risk", "At risk"], ["ok", "On track"]],
      filters.sla,
    ),
    textField("f-q", "Search", filters.q, null, "search"),
    el("datalist", { id: "specialists" }, [...known.specialist].map((v) => el("option", { value: v }))),
    el("datalist", { id: "groups" }, [...known.assignment_group].map((v) => el("option", { value: v }))),
    el("button", { type: "submit", text: "Apply" }),
    el("button", { type: "reset", class: "secondary", text: "Clear" }),
  );
  const status = el("p", { class: "hint", role: "status", text: "Loading tickets…" });
  const tableWrap = el("div", { class: "table-wrap" });
  root.append(el("h1", { text: "Ticket queue" }), form, status, tableWrap);

  const load = async () => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
    params.set("limit", "200");
    status.textContent = "Loading tickets…";
    try {
      const { tickets = [] } = await api(`/v1/tickets?${params}`);
      tickets.forEach((t) => {
        if (t.specialist) known.specialist.add(t.specialist);
        if (t.assignment_group) known.assignment_group.add(t.assignment_group);
      });
      status.textContent = tickets.length ? `${tickets.length} ticket(s)` : "No tickets match these filters.";
      clear(tableWrap, tickets.length ? queueTable(tickets) : null);
    } catch (err) {
      status.textContent = "";
      clear(tableWrap, el("p", { class: "error", role: "alert", text: describeError(err) }));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const key of Object.keys(filters)) filters[key] = form.elements[key].value.trim();
    load();
  });
  form.addEventListener("reset", () => {
    for (const key of Object.keys(filters)) filters[key] = "";
    setTimeout(load, 0);
  });
  form.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") form.requestSubmit();
  });
  await load();
}

function queueTable(tickets) {
  const now = Date.now();
  const head = ["Number", "Priority", "State", "Short description", "Specialist", "Group", "Age", "SLA"];
  const rows = tickets.map((t) => {
    const href = `#ticket/${encodeURIComponent(t.number)}`;
    return el(
      "tr",
      { class: "clickable", on: { click: (e) => e.target.tagName !== "A" && window.location.assign(href) } },
      el("td", {}, el("a", { href, class: "ticket-number", text: t.number })),
      el("td", {}, priorityBadge(t.priority)),
      el("td", {}, el("span", { class: `badge state-${t.state}`, text: stateName(t.state) })),
      el("td", {}, visible(t.short_description)),
      el("td", {}, visible(agentName(t.specialist))),
      el("td", {}, visible(t.assignment_group || "—")),
      el("td", { text: age(t.opened_at, now), title: when(t.opened_at) }),
      el("td", {}, slaBadge(t)),
    );
  });
  return el(
    "table",
    {},
    el("caption", { class: "visually-hidden", text: "Tickets, newest first" }),
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows),
  );
}

// -- approvals -------------------------------------------------------------------------------

async function renderApprovals(root) {
  const status = el("p", { class: "hint", role: "status", text: "Loading approvals…" });
  const list = el("div", { class: "table-wrap" });
  root.append(el("h1", { text: "Pending approvals" }), status, list);
  const load = async () => {
    try {
      const { approvals = [] } = await api("/v1/approvals?status=pending");
      status.textContent = approvals.length ? `${approvals.length} waiting for a decision` : "Nothing waiting for approval.";
      clear(list, approvals.length ? approvalsTable(approvals, load, status) : null);
    } catch (err) {
      status.textContent = "";
      clear(list, el("p", { class: "error", role: "alert", text: describeError(err) }));
    }
  };
  await load();
}

function approvalsTable(approvals, reload, status) {
  const rows = approvals.map((a) => {
    const reasonId = `reason-${a.id}`;
    const reason = el("input", { id: reasonId, type: "text", maxlength: 2000, placeholder: "Reason" });
    const error = el("p", { class: "error", role: "alert" });
    const act = decisionAction(
      a.id,
      reason,
      error,
      async (approve) => {
        await reload(); // then say what was done, ahead of what is still waiting
        const done = `${approve ? "Approved" : "Denied"} ${a.tool} for ${a.requester || a.requested_by}.`;
        clear(status, visible(`${done} ${status.textContent}`));
      },
      reload,
    );
    const ticket = a.ticket_number
      ? el("a", { href: `#ticket/${encodeURIComponent(a.ticket_number)}`, text: a.ticket_number })
      : "—";
    return el(
      "tr",
      { dataset: { approval: a.id } },
      el("td", { text: when(a.created_at) }),
      el("td", {}, visible(a.requester || a.requested_by)),
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

async function route(event) {
  const hash = window.location.hash.replace(/^#/, "") || "queue";
  const [name, ...rest] = hash.split("/");
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
    await render(root, decodeURIComponent(rest.join("/")), ctx);
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
  await route();
}

init();
