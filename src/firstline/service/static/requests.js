// "My requests": the person's past conversations and tickets (GET /v1/conversations and GET /v1/me/tickets),
// each ticket's state, the IT team's public comments, and the way back into any conversation. A side panel
// on wide screens; on narrower ones a view that the toolbar's "My requests" button shows in place of the chat.
// Comments are shown as text (textContent) unless the server sends their sanitised HTML.
import { ApiError, api, clear, el, stateName, when } from "/static/common.js";

const WIDE = window.matchMedia("(min-width: 1024px)");
const COMMENTS_SHOWN = 3;

function stamp(iso) {
  const t = Date.parse(iso || "");
  return Number.isFinite(t) ? t : 0;
}

/** Conversations and tickets as one list, newest activity first; a ticket sits under its conversation. */
export function mergeRequests(conversations, tickets) {
  const byConversation = new Map();
  const placed = new Set();
  for (const t of tickets) {
    if (!t.conversation_id) continue;
    if (!byConversation.has(t.conversation_id)) byConversation.set(t.conversation_id, []);
    byConversation.get(t.conversation_id).push(t);
  }
  const items = [];
  for (const c of conversations) {
    const own = byConversation.get(c.conversation_id) || [];
    if (c.ticket_number && !own.some((t) => t.number === c.ticket_number)) {
      own.unshift({ number: c.ticket_number, state: c.ticket_state, comments: [] });
    }
    if (!c.title && !own.length) continue; // started, but nothing was said
    own.forEach((t) => placed.add(t.number));
    const latest = Math.max(stamp(c.updated_at), ...own.map((t) => stamp(t.updated_at)));
    items.push({ id: c.conversation_id, title: c.title || own[0]?.title || "Conversation", at: latest, tickets: own });
  }
  for (const t of tickets) {
    if (placed.has(t.number)) continue;
    items.push({ id: t.conversation_id || null, title: t.title || t.number, at: stamp(t.updated_at), tickets: [t] });
  }
  return items.sort((a, b) => b.at - a.at);
}

/** A comment's text; its server-sanitised HTML when the API sends one (`html`, like the chat's messages). */
function commentBody(comment) {
  const body = el("div", { class: "comment-body", text: comment.body });
  if (typeof comment.html === "string" && comment.html) {
    body.innerHTML = comment.html; // firstline.service.markdown.render: an allow-list of tags, safe links only
    body.classList.add("rich");
  }
  return body;
}

export function startRequests({ panel, list, status, toggle, close, badge, onOpen }) {
  let current = null;
  let items = [];
  let timer = null;
  const updated = new Set();

  function ticketView(t) {
    const comments = (t.comments || []).slice(-COMMENTS_SHOWN);
    return el(
      "li",
      { class: "request-ticket" },
      el("span", { class: "ticket-number", text: t.number }),
      " ",
      el("span", { class: `badge state-${t.state || "unknown"}`, text: stateName(t.state) }),
      comments.length
        ? el(
            "ol",
            { class: "request-comments", "aria-label": `Comments from the IT team on ${t.number}` },
            comments.map((c) =>
              el(
                "li",
                {},
                el("span", { class: "comment-by", text: `${c.author_name || c.author || "IT"} · ${when(c.created_at)}` }),
                commentBody(c),
              ),
            ),
          )
        : null,
    );
  }

  function itemView(item) {
    const fresh = item.id && updated.has(item.id);
    const head = item.id
      ? el(
          "button",
          {
            type: "button",
            class: "request-open",
            dataset: { conversation: item.id },
            "aria-current": item.id === current ? "true" : null,
            on: { click: () => open(item.id) },
          },
          el("span", { class: "request-title", text: item.title }),
          fresh ? el("span", { class: "badge new", text: "New update" }) : null,
          el("span", { class: "request-when", text: item.at ? when(new Date(item.at).toISOString()) : "" }),
        )
      : el(
          "div",
          { class: "request-open static" },
          el("span", { class: "request-title", text: item.title }),
          el("span", { class: "request-when", text: "Raised outside this chat" }),
        );
    const tickets = item.tickets.length ? el("ul", { class: "request-tickets" }, item.tickets.map(ticketView)) : null;
    return el("li", { class: `request${item.id === current ? " current" : ""}${fresh ? " updated" : ""}` }, head, tickets);
  }

  function render() {
    if (!items.length) {
      clear(list, el("li", { class: "hint", text: "No requests yet. What you ask Firstline appears here." }));
    } else {
      clear(list, items.map(itemView));
    }
    const waiting = [...updated].filter((id) => id !== current).length;
    badge.hidden = !waiting;
    badge.textContent = waiting ? String(waiting) : "";
    toggle.setAttribute("aria-label", waiting ? `My requests, ${waiting} with new updates` : "My requests");
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [conversations, tickets] = await Promise.all([
        api("/v1/conversations?limit=50"),
        api("/v1/me/tickets?state=all&limit=50").catch((err) => {
          if (err instanceof ApiError && (err.status === 404 || err.status === 403)) return { tickets: [] };
          throw err;
        }),
      ]);
      items = mergeRequests(conversations.conversations || [], tickets.tickets || []);
      status.textContent = "";
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      status.textContent = "Your requests could not be loaded just now; they will be tried again.";
      timer = setTimeout(refresh, 15000);
    }
    render();
  }

  function show(visible) {
    document.body.classList.toggle("requests-open", visible);
    toggle.setAttribute("aria-expanded", String(visible));
    if (visible) panel.querySelector("[aria-current], .request-open, h2")?.focus?.();
  }

  function open(id) {
    updated.delete(id);
    show(false);
    onOpen(id);
  }

  toggle.addEventListener("click", () => show(!document.body.classList.contains("requests-open")));
  close.addEventListener("click", () => show(false));
  WIDE.addEventListener("change", () => WIDE.matches && show(false));

  return {
    refresh,
    /** Refresh shortly (several notices in a burst make one request). */
    refreshSoon() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    },
    setCurrent(id) {
      current = id;
      if (id) updated.delete(id);
      render();
    },
    markUpdated(id) {
      if (id && id !== current) updated.add(id);
      render();
    },
    /** On a narrow screen, show the list instead of the chat (a new session with earlier requests). */
    showIfNarrow() {
      if (!WIDE.matches && items.length) show(true);
    },
    get count() {
      return items.length;
    },
  };
}
