// The "Demo phone": shows the one-time codes the demo organisation would have texted (GET /v1/demo/outbox).
// A 404 means the demo delivery is off, and the panel stays hidden.
import { ApiError, api, clear, el, when } from "/static/common.js";

const POLL_MS = 4000;

export function startPhone(details, screen, badge) {
  let seen = null; // newest sent_at the person has looked at
  let newest = null;
  let timer = null;
  let disabled = false;
  let shown = null; // what the screen shows now, so that an unchanged outbox leaves the nodes alone

  function render(messages) {
    const sorted = [...messages].sort((a, b) => String(b.sent_at).localeCompare(String(a.sent_at)));
    newest = sorted.length ? String(sorted[0].sent_at) : null;
    // Rebuilding the list every poll would drop a person's selection of the code (and any node a reader holds).
    const key = JSON.stringify(sorted.map((m) => [m.sent_at, m.channel, m.code]));
    if (key === shown) {
      // nothing new: keep the nodes
    } else if (!sorted.length) {
      clear(screen, el("p", { class: "sms meta", text: "No messages yet." }));
    } else {
      clear(
        screen,
        sorted.map((m) =>
          el(
            "div",
            { class: "sms" },
            el("span", { class: "meta", text: `Firstline verification code (${m.channel || "sms"})` }),
            el("div", { class: "code", text: m.code }),
            el("span", { class: "meta", text: when(m.sent_at) }),
          ),
        ),
      );
    }
    shown = key;
    if (details.open) seen = newest;
    const unseen = newest !== null && newest !== seen;
    badge.hidden = !unseen;
    badge.textContent = unseen ? "new code" : "";
  }

  async function refresh(openIt = false) {
    if (disabled) return;
    try {
      const outbox = await api("/v1/demo/outbox");
      details.hidden = false;
      render(outbox.messages || []);
      if (openIt && !details.open) details.open = true;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 403)) {
        disabled = true;
        details.hidden = true;
        clearTimeout(timer);
      }
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!disabled && details.open && !document.hidden) {
      timer = setTimeout(async () => {
        await refresh();
        schedule();
      }, POLL_MS);
    }
  }

  details.addEventListener("toggle", () => {
    if (details.open) {
      seen = newest;
      badge.hidden = true;
      refresh().then(schedule);
    } else {
      clearTimeout(timer);
    }
  });
  refresh();
  return { refresh: (openIt) => refresh(openIt).then(schedule) };
}
