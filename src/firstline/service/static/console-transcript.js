// The console's view of a conversation: every message (the assistant's as the server's sanitised Markdown, see
// richText in console-text.js; anything else as plain text with hidden characters shown), routing, tool calls with
// their arguments and results, approvals, ticket changes and model calls.
import { agentName, el, pretty, when } from "/static/common.js";
import { richText, visible } from "/static/console-text.js";

function toolCall(data, agent) {
  const summary = el("summary", {}, el("strong", {}, visible(data.tool || "tool")), ` · ${agentName(agent)} · running`);
  const node = el(
    "details",
    { class: "tool-call", dataset: { tool: data.tool || "" } },
    summary,
    el("div", { class: "hint", text: "Arguments" }),
    el("pre", { class: "tool-arguments" }, visible(pretty(data.arguments ?? {}))),
  );
  node.summaryText = (text) => {
    summary.lastChild.textContent = ` · ${agentName(agent)} · ${text}`;
  };
  return node;
}

export function transcript(events) {
  const list = el("div", { class: "transcript" });
  const calls = new Map();
  for (const event of events) {
    const data = event.data || {};
    const stamp = when(event.created_at);
    switch (event.kind) {
      case "user_message":
      case "rejected_message":
        list.append(message("user", data.text, `Employee · ${stamp}`, event.kind === "rejected_message"));
        if (data.reason) list.append(line(`Refused: ${data.reason}`));
        break;
      case "assistant_message":
        list.append(
          message(
            "assistant",
            data.text || `(no text; status ${data.status || "—"})`,
            `${agentName(event.agent)} · ${stamp}`,
            false,
            data.html,
          ),
        );
        break;
      case "routed":
        list.append(line(`Routed to ${agentName(event.agent)}${data.reason ? ` — ${data.reason}` : ""} (${data.source || "?"})`));
        break;
      case "tool_started": {
        const node = toolCall(data, event.agent);
        if (data.call_id) calls.set(data.call_id, node);
        list.append(node);
        break;
      }
      case "tool_finished":
      case "tool_refused": {
        let node = data.call_id && calls.get(data.call_id);
        if (!node) list.append((node = toolCall(data, event.agent)));
        const ok = event.kind === "tool_finished" && data.ok !== false;
        node.summaryText(event.kind === "tool_refused" ? "refused" : ok ? "ok" : "failed");
        node.classList.add(ok ? "ok" : "failed");
        node.append(
          el("div", { class: "hint", text: ok ? "Result" : "Result (error)" }),
          el("pre", { class: "tool-result" }, visible(pretty(data.result ?? data.error ?? data.reason ?? ""))),
        );
        break;
      }
      case "approval_needed":
        list.append(line(`Approval requested for ${data.tool}${data.approval ? ` (${data.approval})` : ""}`, "system-line"));
        break;
      case "approval_decided":
        list.append(
          line(`${data.status === "approved" ? "Approved" : "Denied"} by ${data.decided_by || "?"}${data.reason ? `: ${data.reason}` : ""}`, "system-line"),
        );
        break;
      case "ticket_change":
        list.append(line(`Ticket ${data.action || "changed"}: ${(data.ticket && data.ticket.number) || ""}`));
        break;
      case "model_call":
        list.append(
          line(`Model call: ${data.model || "?"} · ${data.prompt_tokens ?? 0}+${data.completion_tokens ?? 0} tokens · ${data.latency_ms ?? "?"} ms`),
        );
        break;
      case "done":
        break;
      default:
        list.append(
          el("details", {}, el("summary", { text: `${event.kind} · ${agentName(event.agent)} · ${stamp}` }), el("pre", {}, visible(pretty(data)))),
        );
    }
  }
  if (!list.children.length) list.append(el("p", { class: "hint", text: "No messages yet." }));
  return list;
}

function message(role, text, label, failed = false, html = null) {
  const rich = richText(html); // the server's sanitised Markdown; otherwise the text as typed, never as HTML
  return el(
    "div",
    { class: `msg ${role}${failed ? " failed" : ""}` },
    el("span", { class: "who-said", text: label }),
    rich ? el("div", { class: "body" }, rich) : el("span", { class: "body" }, visible(text || "")),
  );
}

function line(text, kind = "status-line") {
  return el("p", { class: kind }, visible(text));
}

