// The console's "Jobs" view (#jobs), for admins: how many background jobs wait, run and died, and the dead ones
// with their error and Retry / Discard buttons (GET /v1/admin/jobs, POST …/dead/{id}/retry, DELETE …/dead/{id}).
//
// console.html loads this module beside console.js and carries the (hidden) "Jobs" tab. The module shows the tab
// to admins and mounts itself on #jobs: console.js's router does not know this route and renders the queue into
// <main>, so the view replaces that content once the router is done (it watches <main> and the hash).
import { api, clear, describeError, el, pretty, when } from "/static/common.js";
import { visible } from "/static/console-text.js";

export async function renderJobs(root) {
  const status = el("p", { class: "hint", role: "status", text: "Loading jobs…" });
  const notice = el("p", { class: "error", role: "alert", id: "jobs-notice" });
  const summary = el("p", { id: "jobs-counts" });
  const dead = el("div", { class: "table-wrap", id: "jobs-dead" });
  const waiting = el("div", { class: "table-wrap", id: "jobs-waiting" });
  const refresh = el("button", { type: "button", class: "secondary", text: "Refresh" });
  root.append(
    el("h1", { text: "Background jobs" }),
    el("p", { class: "hint", text: "Ingest, ticket sync and outgoing mail run as jobs with retries; a job whose retries are spent is listed here." }),
    summary,
    refresh,
    notice,
    status,
    el("h2", { text: "Dead jobs" }),
    dead,
    el("h2", { text: "Waiting" }),
    waiting,
  );
  let done = ""; // what the last Retry / Discard did: stays while the lists refresh
  const load = async () => {
    try {
      const body = await api("/v1/admin/jobs");
      clear(
        summary,
        visible(`Queued ${body.queued} · scheduled ${body.scheduled} · running ${body.running} · dead ${body.dead} (queue: ${body.where})`),
      );
      status.textContent = [done, body.recent_dead.length ? "" : "No dead jobs."].filter(Boolean).join(" ");
      clear(dead, body.recent_dead.length ? deadTable(body.recent_dead, act) : null);
      clear(waiting, body.waiting.length ? waitingTable(body.waiting) : el("p", { class: "hint", text: "Nothing waiting." }));
    } catch (err) {
      status.textContent = "";
      notice.textContent = describeError(err);
    }
  };
  const act = async (button, call, message) => {
    button.disabled = true;
    notice.textContent = "";
    done = "";
    try {
      await call();
      done = message;
    } catch (err) {
      notice.textContent = describeError(err);
    }
    await load();
  };
  refresh.addEventListener("click", load);
  await load();
}

function deadTable(jobs, act) {
  const rows = jobs.map((job) => {
    const path = `/v1/admin/jobs/dead/${encodeURIComponent(job.id)}`;
    const retry = el("button", { type: "button", text: "Retry" });
    const discard = el("button", { type: "button", class: "danger", text: "Discard" });
    retry.addEventListener("click", () => act(retry, () => api(`${path}/retry`, { method: "POST" }), `Job ${job.id} queued again.`));
    discard.addEventListener("click", () => act(discard, () => api(path, { method: "DELETE" }), `Job ${job.id} discarded.`));
    return el(
      "tr",
      { dataset: { job: job.id } },
      el("td", { text: when(job.dead_at) }),
      el("td", {}, el("strong", {}, visible(job.kind))),
      el("td", { text: String(job.attempts) }),
      el("td", {}, visible(job.error)),
      el("td", {}, el("pre", {}, visible(pretty(job.payload || {})))),
      el("td", {}, el("div", { class: "stack" }, retry, discard)),
    );
  });
  const head = ["Died", "Kind", "Attempts", "Last error", "Payload (redacted)", "Action"];
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows),
  );
}

function waitingTable(jobs) {
  const rows = jobs.map((job) =>
    el(
      "tr",
      {},
      el("td", {}, visible(job.kind)),
      el("td", { text: job.eta ? when(job.eta) : "now" }),
      el("td", { text: String(job.retries_left) }),
      el("td", {}, el("pre", {}, visible(pretty(job.payload || {})))),
    ),
  );
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ["Kind", "Due", "Retries left", "Payload"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows),
  );
}

// -- mounting beside console.js's router ---------------------------------------------------------

const view = document.getElementById("view");
const tab = document.querySelector("#tabs [data-tab=jobs]");
let mounted = null;

function onJobsRoute() {
  return window.location.hash.replace(/^#/, "").split(/[/?]/)[0] === "jobs";
}

function mount() {
  if (!onJobsRoute() || !tab || tab.hidden || (mounted && mounted.isConnected)) return;
  mounted = el("div", { class: "stack", dataset: { view: "jobs" } });
  view.replaceChildren(mounted);
  for (const link of document.querySelectorAll("#tabs a")) {
    if (link === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = mounted;
  renderJobs(root)
    .then(() => {
      const heading = root.querySelector("h1");
      heading.tabIndex = -1;
      heading.focus();
    })
    .catch((err) => root.append(el("p", { class: "error", role: "alert", text: describeError(err) })));
}

// After the router's own handler (same event, or its render replacing <main>): a timeout lets it run first.
const later = () => setTimeout(mount, 0);
window.addEventListener("hashchange", later);
if (view) new MutationObserver(later).observe(view, { childList: true });

api("/v1/me")
  .then((me) => {
    if (tab && me.role === "admin") {
      tab.hidden = false;
      later();
    }
  })
  .catch(() => {}); // not signed in: console.js sends the browser to the login page
