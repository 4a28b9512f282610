// The chat's message list: bubbles, status lines, citations, and where the ticket card and the demo phone sit.
//
// Message HTML: the server renders Markdown and sanitises it (firstline.service.markdown, nh3 allow-list) and
// sends it as `reply_html` / `data.html`; only that is inserted as HTML. Without it the text is shown as text
// (textContent), with **bold** turned into <strong> nodes.
//
// On a phone (≤ 760 px) the page is a fixed frame and the side column is hidden, so the ticket card moves
// into the conversation (pinned at the top of the list) and the demo phone with the one-time code appears in
// the conversation right after the message that asked for the code. On wider screens both live in the side
// column.
import { agentName, clear, el } from "/static/common.js";

const PHONE = window.matchMedia("(max-width: 760px)");
const STAFF = "service desk";

export function speaker(agent, data = {}) {
  if (agent === STAFF) return data.author_name ? `IT service desk · ${data.author_name}` : "IT service desk";
  return agent && agent !== "desk" && agent !== "triage" ? `Firstline · ${agentName(agent)}` : "Firstline";
}

/** Put assistant text into `body`: the server's sanitised HTML when there is some, else text. */
export function setBody(body, text, html = null) {
  if (typeof html === "string" && html) {
    body.innerHTML = html; // sanitised on the server (allow-list), see the module comment
    body.classList.add("rich");
    return;
  }
  body.classList.remove("rich");
  const parts = String(text || "").split(/\*\*([^*\n][^*]*?)\*\*/g);
  body.replaceChildren(...parts.map((part, i) => (i % 2 ? el("strong", { text: part }) : document.createTextNode(part))));
}

export function citationList(citations) {
  const items = citations.map((c) => {
    const title = c.title || c.source || "Runbook";
    let section = c.section_path || c.section || "";
    if (section.startsWith(`${title} > `)) section = section.slice(title.length + 3);
    const text = section && section !== title ? `${title} › ${section}` : title;
    const href = typeof c.href === "string" && c.href.startsWith("/") && !c.href.startsWith("//") ? c.href : null;
    return el("li", {}, href ? el("a", { href, target: "_blank", rel: "noopener", text }) : el("span", { text }));
  });
  return el("ul", { class: "citations", "aria-label": "Sources" }, items);
}

export function chatLog(log, side, card, phone) {
  let codePrompt = false; // a one-time code was asked for here: on a phone, the demo phone sits in the list

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function addNode(node, before = null) {
    log.querySelector("#empty-note")?.remove();
    log.insertBefore(node, before && before.parentNode === log ? before : null);
    scrollToEnd();
    return node;
  }

  /** Where the ticket card and the demo phone belong for this screen width. */
  function place() {
    if (PHONE.matches) {
      if (card.parentNode !== log) log.prepend(card);
      if (codePrompt && phone.parentNode !== log) log.append(phone);
      if (!codePrompt && phone.parentNode === log) side.append(phone);
    } else {
      if (card.parentNode !== side) side.prepend(card);
      if (phone.parentNode !== side) side.append(phone);
    }
  }

  function addMessage(role, text, agent = null, { before = null, html = null, data = {} } = {}) {
    const label = role === "user" ? "You" : speaker(agent, data);
    const body = el("div", { class: "body", text });
    if (role === "assistant" && (text || html)) setBody(body, text, html);
    const staff = role === "assistant" && agent === STAFF ? " staff" : "";
    return addNode(el("div", { class: `msg ${role}${staff}` }, el("span", { class: "who-said", text: label }), body), before);
  }

  function addLine(text, kind = "status-line", before = null) {
    return addNode(el("p", { class: kind, text }), before);
  }

  function codeAsked(asked) {
    codePrompt = asked || codePrompt;
    if (asked && PHONE.matches) log.append(phone);
    place();
    if (asked) scrollToEnd();
  }

  /** One stored event; for an assistant message, whether it waits for the one-time code (else null). */
  function showEvent(event) {
    const data = event.data || {};
    switch (event.kind) {
      case "user_message":
        addMessage("user", data.text || "");
        break;
      case "rejected_message":
        addMessage("user", data.text || "").classList.add("failed");
        addLine(`Not sent: ${data.reason || "the message was refused"}`);
        break;
      case "assistant_message": {
        if (data.text || data.html) {
          const bubble = addMessage("assistant", data.text || "", event.agent, { html: data.html, data });
          if (Array.isArray(data.citations) && data.citations.length) bubble.append(citationList(data.citations));
        }
        if (data.awaiting === "code") codeAsked(true); // where the code prompt was (the phone opens only live)
        return data.awaiting === "code";
      }
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
    return null;
  }

  PHONE.addEventListener("change", () => {
    place();
    scrollToEnd();
  });
  place();

  return {
    scrollToEnd,
    addNode,
    addMessage,
    addLine,
    showEvent,
    codeAsked,
    error(text) {
      return addNode(el("p", { class: "error", text }));
    },
    /** Empty the list (keeping the ticket card and demo phone elements), then show `nodes`. */
    reset(...nodes) {
      codePrompt = false;
      side.prepend(card);
      side.append(phone);
      clear(log, ...nodes);
      place();
    },
    get phoneLayout() {
      return PHONE.matches;
    },
  };
}
