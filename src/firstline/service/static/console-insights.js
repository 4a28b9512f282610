// The console's knowledge page (stats, upload, re-ingest and what changed) and analytics page (SVG charts).
import { agentName, api, clear, describeError, duration, el, percent, usd, when } from "/static/common.js";
import { barChart, stackedDays } from "/static/charts.js";
import { visible } from "/static/console-text.js";

function panel(title, ...children) {
  return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
}

function table(columns, rows, caption) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      caption ? el("caption", { class: "visually-hidden", text: caption }) : null,
      el("thead", {}, el("tr", {}, columns.map(([, label]) => el("th", { scope: "col", text: label })))),
      el(
        "tbody",
        {},
        rows.map((row) => el("tr", {}, columns.map(([key, , format]) => el("td", {}, visible(show(row[key], format)))))),
      ),
    ),
  );
}

function show(value, format) {
  if (format) return format(value);
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.join(", ") || "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function bytes(n) {
  if (!Number.isFinite(Number(n))) return "—";
  const v = Number(n);
  return v < 1024 ? `${v} B` : v < 1048576 ? `${(v / 1024).toFixed(1)} KiB` : `${(v / 1048576).toFixed(1)} MiB`;
}

// -- knowledge -------------------------------------------------------------------------------

const DOC_COLUMNS = [
  ["name", "File"],
  ["title", "Title"],
  ["doc_id", "Document"],
  ["source", "Path"],
  ["category", "Category"],
  ["documents", "Documents"],
  ["chunks", "Chunks"],
  ["size", "Size", bytes],
  ["ingested_at", "Ingested", when],
  ["updated_at", "Updated", when],
];

export async function renderKnowledge(root, _param, ctx) {
  const admin = ctx.me && ctx.me.role === "admin";
  const stats = el("div", { class: "stack" }, el("p", { class: "hint", text: "Loading…" }));
  const report = el("div", { class: "stack", "aria-live": "polite" });
  const fileInput = el("input", { id: "kb-file", name: "file", type: "file", accept: ".md,.txt,.html,.pdf", disabled: !admin });
  const upload = el(
    "form",
    { class: "filters" },
    el("div", { class: "field" }, el("label", { for: "kb-file", text: "Runbook file (.md, .txt, .html, .pdf)" }), fileInput),
    el("button", { type: "submit", text: "Upload", disabled: !admin }),
  );
  const reingest = el("button", { type: "button", class: "secondary", text: "Re-ingest all", disabled: !admin });
  const error = el("p", { class: "error", role: "alert" });
  root.append(
    el("h1", { text: "Knowledge base" }),
    panel(
      "Add or refresh runbooks",
      admin ? null : el("p", { class: "hint", text: "Only admins can upload or re-ingest runbooks." }),
      upload,
      el("div", { class: "toolbar" }, reingest),
      error,
      report,
    ),
    stats,
  );
  const run = async (button, call, label) => {
    error.textContent = "";
    button.disabled = true;
    clear(report, el("p", { class: "hint", text: `${label}…` }));
    try {
      const result = await call();
      clear(report, ingestReport(result, label));
      const failed = result.failed || [];
      if (failed.length) error.textContent = failed.map((f) => `${f.name || f.source} could not be ingested: ${f.reason}`).join(" ");
      await loadStats(stats, refresh);
    } catch (err) {
      clear(report);
      error.textContent = describeError(err);
    } finally {
      button.disabled = !admin;
    }
  };
  upload.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!fileInput.files.length) {
      error.textContent = "Choose a file to upload first.";
      return;
    }
    const body = new FormData();
    body.append("file", fileInput.files[0]);
    run(upload.querySelector("button"), () => api("/v1/knowledge/documents", { method: "POST", body }), "Upload");
  });
  reingest.addEventListener("click", () =>
    run(reingest, () => api("/v1/knowledge/reingest", { method: "POST" }), "Re-ingest"),
  );
  const refresh = { admin, remove: (name, button) => run(button, () => removeFile(name), `Remove ${name}`) };
  await loadStats(stats, refresh);
}

function removeFile(name) {
  return api(`/v1/knowledge/documents/${encodeURIComponent(name)}`, { method: "DELETE" });
}

// Removing asks twice on the same button ("Remove" then "Confirm removal"), without a dialog.
function removeButton(name, actions) {
  const button = el("button", { type: "button", class: "danger small", text: "Remove", "aria-label": `Remove ${name}` });
  button.addEventListener("click", () => {
    if (button.dataset.armed) {
      actions.remove(name, button);
      return;
    }
    button.dataset.armed = "1";
    button.textContent = "Confirm removal";
    button.setAttribute("aria-label", `Confirm removal of ${name}`);
  });
  return button;
}

const KINDS = { parse_error: "Could not be parsed", unsupported: "Unsupported type", unreadable: "Could not be read" };

function failedPanel(failed, actions) {
  if (!failed.length) return null;
  const rows = failed.map((f) =>
    el(
      "tr",
      { dataset: { failed: f.name } },
      el("td", {}, visible(f.source || f.name)),
      el("td", { text: KINDS[f.kind] || "Failed" }),
      el("td", {}, visible(f.reason)),
      el("td", { text: f.failed_at ? when(f.failed_at) : "—" }),
      el("td", {}, actions.admin && f.removable ? removeButton(f.name, actions) : null),
    ),
  );
  return panel(
    "Files that could not be ingested",
    el("p", { class: "hint", text: "They are not tried again until the file changes. Fix and upload it again, or remove it." }),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        {},
        el("caption", { class: "visually-hidden", text: "Failed files" }),
        el("thead", {}, el("tr", {}, ["File", "Problem", "Why", "When", ""].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows),
      ),
    ),
  );
}

async function loadStats(container, actions) {
  let stats;
  try {
    stats = await api("/v1/knowledge/stats");
  } catch (err) {
    clear(container, el("p", { class: "error", role: "alert", text: describeError(err) }));
    return;
  }
  const scalars = Object.entries(stats).filter(([, v]) => v === null || typeof v !== "object");
  const docs = stats.documents && Array.isArray(stats.documents) ? stats.documents : stats.files || [];
  const columns = DOC_COLUMNS.filter(([key]) => docs.some((d) => key in d));
  const removable = docs.filter((d) => d.removable);
  const categories = stats.by_category && typeof stats.by_category === "object" ? Object.entries(stats.by_category) : [];
  clear(
    container,
    el(
      "div",
      { class: "cards" },
      scalars.map(([key, value]) =>
        el("div", { class: "panel metric" }, el("div", { class: "hint", text: key.replaceAll("_", " ") }), el("div", { class: typeof value === "number" ? "value" : "value text", text: show(value) })),
      ),
    ),
    categories.length ? panel("Chunks by category", table([["category", "Category"], ["chunks", "Chunks"]], categories.map(([category, chunks]) => ({ category, chunks })))) : null,
    failedPanel(stats.failed || [], actions),
    panel("Documents", docs.length ? table(columns, docs, "Ingested documents") : el("p", { class: "hint", text: "No documents ingested yet." })),
    actions.admin && removable.length
      ? panel(
          "Uploaded runbooks",
          el(
            "ul",
            { class: "uploads" },
            removable.map((d) => el("li", { dataset: { upload: d.name } }, visible(d.name), " ", removeButton(d.name, actions))),
          ),
        )
      : null,
  );
}

function ingestReport(result, label) {
  const list = (value) => (Array.isArray(value) ? value : []);
  const count = (value) => (Array.isArray(value) ? value.length : Number(value) || 0);
  const rows = [
    ["Added", result.added],
    ["Updated", result.updated],
    ["Removed", result.removed],
    ["Unchanged", result.unchanged],
    ["Failed", result.failed],
    ["Still failing (unchanged, not retried)", result.still_failing],
  ];
  return el(
    "section",
    { class: "stack", "aria-label": "What changed" },
    el("h3", { text: `What changed (${label.toLowerCase()})` }),
    table(
      [["kind", "Change"], ["count", "Count"], ["items", "Which"]],
      rows.map(([kind, value]) => ({
        kind,
        count: count(value),
        items: list(value).map((v) => (typeof v === "object" ? `${v.name || v.source || ""}: ${v.reason || "no reason given"}` : v)),
      })),
      "What changed",
    ),
    el(
      "p",
      { class: "hint" },
      `${result.chunks_embedded ?? 0} chunk(s) embedded, ${result.chunks_deleted ?? 0} deleted, in ${Number(result.seconds || 0).toFixed(1)} s.`,
    ),
  );
}

// -- analytics -------------------------------------------------------------------------------

const NUMBERS = [
  ["deflection_rate", "Deflection rate", percent],
  ["escalation_rate", "Escalation rate", percent],
  ["median_time_to_resolution_s", "Median time to resolution", duration],
  ["conversations", "Conversations", null],
  ["tickets", "Tickets", null],
  ["cost_per_conversation_usd", "Cost per conversation", usd],
];

// Each definition is printed once: beside its number or chart, and the ones with no number of their own in the
// closing list. `shown` remembers which were printed already.
function definition(definitions, key, shown) {
  const text = definitions[key];
  if (!text || shown.has(key)) return null;
  shown.add(key);
  return el("p", { class: "definition", dataset: { definition: key }, text });
}

function scalar(value, format) {
  if (value === null || value === undefined) return "No data yet";
  if (typeof value === "object") {
    return Object.entries(value)
      .map(([k, v]) => `${k}: ${v}`)
      .join(" · ");
  }
  return format ? format(value) : String(value);
}

export async function renderAnalytics(root) {
  const days = el(
    "select",
    { id: "analytics-days" },
    [7, 30, 90].map((n) => el("option", { value: n, text: `Last ${n} days`, selected: n === 30 })),
  );
  const body = el("div", { class: "stack" }, el("p", { class: "hint", text: "Loading…" }));
  root.append(
    el("h1", { text: "Analytics" }),
    el("div", { class: "filters" }, el("div", { class: "field" }, el("label", { for: "analytics-days", text: "Window" }), days)),
    body,
  );
  const load = async () => {
    try {
      const data = await api(`/v1/analytics?days=${days.value}`);
      clear(body, ...analytics(data));
    } catch (err) {
      clear(body, el("p", { class: "error", role: "alert", text: describeError(err) }));
    }
  };
  days.addEventListener("change", load);
  await load();
}

function swatch(color) {
  const node = el("span", { class: "swatch", "aria-hidden": "true" });
  node.style.background = color; // CSSOM, not a style attribute: fine under a strict CSP
  return node;
}

function analytics(data) {
  const metrics = data.metrics || {};
  const definitions = data.definitions || {};
  const window_ = data.window || {};
  const out = [];
  const shown = new Set();
  const windowText = Object.entries(window_)
    .map(([k, v]) => `${k.replaceAll("_", " ")}: ${typeof v === "string" && /T\d/.test(v) ? when(v) : v}`)
    .join(" · ");
  if (windowText) out.push(el("p", { class: "hint", text: windowText }));
  out.push(
    el(
      "div",
      { class: "cards" },
      NUMBERS.map(([key, label, format]) =>
        el(
          "div",
          { class: "panel metric", dataset: { metric: key } },
          el("div", { class: "hint", text: label }),
          el("div", { class: "value", text: scalar(metrics[key], format) }),
          definition(definitions, key, shown),
        ),
      ),
    ),
  );
  const intents = (metrics.top_intents || []).map((r) => ({ label: r.intent || "(none)", value: r.count }));
  out.push(
    panel(
      "Top intents",
      intents.length ? barChart(intents, { label: "Conversations per intent" }) : el("p", { class: "hint", text: "No data yet." }),
      definition(definitions, "top_intents", shown),
    ),
  );
  const perDay = (metrics.tickets_by_specialist_per_day || []).map((r) => ({ day: r.day, series: agentName(r.specialist), value: r.count }));
  let legend = null;
  let chart = el("p", { class: "hint", text: "No tickets in this window yet." });
  if (perDay.length) {
    const drawn = stackedDays(perDay, { label: "Tickets per day, stacked by specialist" });
    chart = drawn.chart;
    legend = el(
      "ul",
      { class: "legend", "aria-label": "Specialists" },
      drawn.legend.map((s) => el("li", {}, swatch(s.color), s.name)),
    );
  }
  out.push(panel("Tickets per day by specialist", chart, legend, definition(definitions, "tickets_by_specialist_per_day", shown)));
  const models = metrics.cost_by_model || [];
  out.push(
    panel(
      "Cost by model",
      models.length
        ? barChart(
            models.map((m) => ({ label: m.model, value: m.cost_usd })),
            { label: "Cost in US dollars per model", format: usd, color: "#009E73" },
          )
        : el("p", { class: "hint", text: "No model calls yet." }),
      models.length
        ? table(
            [
              ["model", "Model"],
              ["calls", "Calls"],
              ["prompt_tokens", "Prompt tokens"],
              ["completion_tokens", "Completion tokens"],
              ["cost_usd", "Cost", usd],
            ],
            models,
            "Cost by model",
          )
        : null,
      definition(definitions, "cost_by_model", shown),
    ),
  );
  const rest = Object.entries(definitions).filter(([key]) => !shown.has(key));
  if (rest.length) {
    out.push(
      panel(
        "How the other numbers are computed",
        el(
          "dl",
          { class: "fields" },
          rest.map(([key, text]) =>
            el("div", {}, el("dt", { text: key.replaceAll("_", " ") }), el("dd", { dataset: { definition: key }, text })),
          ),
        ),
      ),
    );
  }
  return out;
}
