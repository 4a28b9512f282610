// The console's ticket queue: filters kept in the URL (#queue?state=new&sort=priority), sortable columns
// (server-side sort= and order=, aria-sort on the header), requester and assignee names, "Assign to me" on each
// row, and a live refresh when tickets change (console-live.js). Typing in the filters is never interrupted:
// a refresh replaces only the table.
import { age, api, clear, describeError, el, priorityBadge, slaBadge, stateName, when } from "/static/common.js";
import { onLive } from "/static/console-live.js";
import { visible } from "/static/console-text.js";

const STATES = ["new", "in_progress", "on_hold", "resolved", "closed", "canceled"];
export const FILTER_KEYS = ["state", "priority", "specialist", "assignment_group", "sla", "q"];
const SORT_KEYS = ["priority", "updated", "created", "due", "state", "number"];
const DESCENDING_FIRST = new Set(["updated", "created", "number"]);
const known = { specialist: new Set(), assignment_group: new Set() };

/** The queue's view (filters, sort, order) read from URL parameters; unknown keys and values are dropped. */
export function viewFrom(params) {
  const view = {};
  for (const key of FILTER_KEYS) view[key] = (params.get(key) || "").trim();
  const sort = params.get("sort") || "";
  view.sort = SORT_KEYS.includes(sort) ? sort : "";
  const order = params.get("order") || "";
  view.order = view.sort && (order === "asc" || order === "desc") ? order : "";
  return view;
}

function queryOf(view) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(view)) if (value) params.set(key, value);
  return params;
}

/** The hash that opens this view: "#queue" or "#queue?specialist=Network&sort=priority". */
export function hashOf(view) {
  const query = queryOf(view).toString();
  return query ? `#queue?${query}` : "#queue";
}

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

export async function renderQueue(root, params, ctx) {
  const view = viewFrom(params);
  const form = el(
    "form",
    { class: "filters panel", role: "search", "aria-label": "Filter tickets" },
    select("f-state", "State", [["", "Any"], ...STATES.map((s) => [s, stateName(s)])], view.state),
    select("f-priority", "Priority", [["", "Any"], ...[1, 2, 3, 4, 5].map((p) => [String(p), `P${p}`])], view.priority),
    textField("f-specialist", "Specialist", view.specialist, "specialists"),
    textField("f-assignment_group", "Assignment group", view.assignment_group, "groups"),
    select(
      "f-sla",
      "SLA",
      [["", "Any"], ["overdue", "Overdue"], ["at_risk", "At risk"], ["ok", "On track"]],
      view.sla,
    ),
    textField("f-q", "Search (number, title, requester)", view.q, null, "search"),
    el("datalist", { id: "specialists" }, [...known.specialist].map((v) => el("option", { value: v }))),
    el("datalist", { id: "groups" }, [...known.assignment_group].map((v) => el("option", { value: v }))),
    el("button", { type: "submit", text: "Apply" }),
    el("button", { type: "reset", class: "secondary", text: "Clear" }),
  );
  const status = el("p", { class: "hint", role: "status", text: "Loading tickets…" });
  const problem = el("p", { class: "error", role: "alert" });
  const tableWrap = el("div", { class: "table-wrap" });
  root.append(el("h1", { text: "Ticket queue" }), form, status, problem, tableWrap);

  let loading = null;
  const load = async () => {
    const token = (loading = {});
    const params = queryOf(view);
    params.set("limit", "200");
    try {
      const { tickets = [], truncated = false } = await api(`/v1/tickets?${params}`);
      if (token !== loading) return; // a newer load is on its way
      tickets.forEach((t) => {
        if (t.specialist_name || t.specialist) known.specialist.add(t.specialist_name || t.specialist);
        if (t.assignment_group) known.assignment_group.add(t.assignment_group);
      });
      const count = tickets.length ? `${tickets.length} ticket(s)` : "No tickets match these filters.";
      status.textContent = truncated ? `${count} Only the newest 10,000 tickets were searched.` : count;
      problem.textContent = "";
      clear(tableWrap, tickets.length ? queueTable(tickets, view, ctx, { sortBy, assign }) : null);
    } catch (err) {
      if (token !== loading) return;
      status.textContent = "";
      problem.textContent = describeError(err);
    }
  };
  // A new view goes into the URL (its own history entry: back and forward walk the views) and loads.
  const show = () => {
    const hash = hashOf(view);
    if (window.location.hash !== hash) window.history.pushState(null, "", hash);
    status.textContent = "Loading tickets…";
    return load();
  };
  const sortBy = (key) => {
    if (view.sort === key || (!view.sort && key === "created")) {
      const current = view.order || (DESCENDING_FIRST.has(key) ? "desc" : "asc");
      view.order = current === "asc" ? "desc" : "asc";
    } else {
      view.order = DESCENDING_FIRST.has(key) ? "desc" : "asc";
    }
    view.sort = key;
    return show();
  };
  const assign = async (ticket, button) => {
    button.disabled = true;
    problem.textContent = "";
    try {
      await api(`/v1/tickets/${encodeURIComponent(ticket.number)}/assign`, {
        method: "POST",
        body: { assignee: ctx.me.email },
      });
      await load();
    } catch (err) {
      button.disabled = false;
      problem.textContent = describeError(err);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const key of FILTER_KEYS) view[key] = form.elements[key].value.trim();
    show();
  });
  form.addEventListener("reset", (event) => {
    event.preventDefault(); // a plain reset would go back to the filters the page opened with
    for (const key of FILTER_KEYS) {
      view[key] = "";
      form.elements[key].value = "";
    }
    show();
  });
  form.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") form.requestSubmit();
  });
  const stop = onLive("tickets", () => (root.isConnected ? load() : stop()));
  await load();
}

const COLUMNS = [
  ["Number", "number"],
  ["Priority", "priority"],
  ["State", "state"],
  ["Short description", null],
  ["Requester", null],
  ["Assigned to", null],
  ["Specialist", null],
  ["Group", null],
  ["Opened", "created"],
  ["Updated", "updated"],
  ["SLA", "due"],
  ["", null],
];

function header([label, key], view, sortBy) {
  if (!key) return el("th", { scope: "col" }, label || el("span", { class: "visually-hidden", text: "Actions" }));
  const active = view.sort ? view.sort === key : key === "created";
  const order = view.order || (DESCENDING_FIRST.has(key) ? "desc" : "asc");
  const sorted = active ? (order === "asc" ? "ascending" : "descending") : null;
  return el(
    "th",
    { scope: "col", "aria-sort": sorted || "none", class: "sortable" },
    el(
      "button",
      { type: "button", class: "sort", dataset: { sort: key }, on: { click: () => sortBy(key) } },
      label,
      el("span", { class: "sort-mark", "aria-hidden": "true", text: sorted ? (sorted === "ascending" ? " ▲" : " ▼") : "" }),
    ),
  );
}

function person(name, email) {
  if (!email) return el("span", { class: "hint", text: "—" });
  return el("span", { title: email }, visible(name || email));
}

function queueTable(tickets, view, ctx, { sortBy, assign }) {
  const now = Date.now();
  const rows = tickets.map((t) => {
    const href = `#ticket/${encodeURIComponent(t.number)}`;
    const mine = t.assigned_to && ctx.me && t.assigned_to.toLowerCase() === ctx.me.email.toLowerCase();
    const closed = ["closed", "canceled", "cancelled"].includes(t.state);
    const take =
      mine || closed
        ? null
        : el("button", {
            type: "button",
            class: "secondary small",
            text: "Assign to me",
            "aria-label": `Assign ${t.number} to me`,
          });
    if (take) take.addEventListener("click", () => assign(t, take));
    return el(
      "tr",
      {
        class: "clickable",
        dataset: { ticket: t.number },
        on: { click: (e) => !e.target.closest("a, button") && window.location.assign(href) },
      },
      el("td", {}, el("a", { href, class: "ticket-number", text: t.number })),
      el("td", {}, priorityBadge(t.priority)),
      el("td", {}, el("span", { class: `badge state-${t.state}`, text: stateName(t.state) })),
      el("td", {}, visible(t.short_description)),
      el("td", { class: "requester" }, person(t.requester_name, t.requester)),
      el("td", { class: "assignee" }, person(t.assignee_name, t.assigned_to)),
      el("td", {}, visible(t.specialist_name || t.specialist || "—")),
      el("td", {}, visible(t.assignment_group || "—")),
      el("td", { text: age(t.opened_at, now), title: when(t.opened_at) }),
      el("td", { text: age(t.updated_at, now), title: when(t.updated_at) }),
      el("td", { title: `Due ${when(t.due_at)}` }, slaBadge(t)),
      el("td", {}, take),
    );
  });
  const by = view.sort || "created";
  const caption = `Tickets, sorted by ${by} (${view.order || (DESCENDING_FIRST.has(by) ? "desc" : "asc")})`;
  return el(
    "table",
    { class: "queue" },
    el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, el("tr", {}, COLUMNS.map((c) => header(c, view, sortBy)))),
    el("tbody", {}, rows),
  );
}
