// One streamed turn of the chat: reads the answer's Server-Sent Events (routed, tool, approval_needed, token,
// token_reset, holding, message, done/reply, error) into a bubble that grows as the model writes, with a
// line saying what Firstline is doing. The chat finishes the turn with the final reply (chat.js).
import { agentName } from "/static/common.js";
import { readEvents } from "/static/sse.js";

const ACTIVITY = {
  account_status: "checking your account…",
  unlock_account: "unlocking your account…",
  send_verification_code: "sending you a one-time code…",
  verify_identity: "checking your code…",
  send_password_reset_link: "sending a password reset link…",
  reset_mfa: "resetting your sign-in method…",
  kb_search: "searching the runbooks…",
  my_devices: "looking up your devices…",
  device_health: "checking your device…",
  compliance_check: "checking your device's compliance…",
  report_lost_device: "reporting the lost device…",
  remote_lock: "locking the device…",
  vpn_status: "checking the VPN…",
  site_outage_check: "checking for outages at your site…",
  printer_status: "checking the printer…",
  mailbox_quota: "checking your mailbox…",
  open_or_update_ticket: "updating your ticket…",
  mark_resolved: "resolving your ticket…",
  escalate_to_human: "handing over to the IT team…",
};

function onStreamEvent(turn, view, hooks, { event, data }) {
  const kind = event === "message" && data && !("text" in data) ? data.kind || event : event;
  if (kind === "routed") {
    turn.agent = data.agent;
    if (data.agent && data.agent !== "triage") view.addLine(`Routed to ${agentName(data.agent)}`, "status-line", turn.activity);
  } else if (kind === "tool" || kind.startsWith("tool_")) {
    const phase = data.phase || kind.replace("tool_", "");
    if (phase === "started") {
      turn.activity.textContent = ACTIVITY[data.tool] || "working on it…";
      turn.steps.push((ACTIVITY[data.tool] || "looking into it…").replace(/…$/, ""));
    }
  } else if (kind === "approval_needed") {
    hooks.approvalNeeded(data);
  } else if (kind === "token") {
    turn.streamed += data.text || "";
    turn.body().textContent = turn.streamed;
    view.scrollToEnd();
  } else if (kind === "token_reset") {
    // What was drawn so far is void (the model failed mid-answer, or Firstline writes this reply itself).
    turn.streamed = "";
    if (turn.bubble) turn.body().textContent = "";
  } else if (kind === "holding") {
    if (data.text) view.addLine(data.text, "status-line holding", turn.activity);
    view.scrollToEnd();
  } else if (kind === "message") {
    if (!turn.streamed && data.text) turn.body().textContent = data.text;
  } else if ((kind === "done" || kind === "reply") && data && typeof data.reply === "string") {
    turn.reply = data;
  } else if (kind === "error") {
    turn.error = data;
  }
}

/** Read `response` (text/event-stream) into a turn: {bubble, activity, streamed, steps, reply, error, body()}. */
export async function readTurn(response, view, hooks) {
  const turn = { bubble: null, agent: null, streamed: "", steps: [], reply: null, error: null };
  turn.activity = view.addLine("Firstline is working on it…", "activity");
  turn.body = () => {
    if (!turn.bubble) turn.bubble = view.addMessage("assistant", "", turn.agent, { before: turn.activity });
    turn.bubble.classList.add("streaming");
    return turn.bubble.querySelector(".body");
  };
  try {
    await readEvents(response, (event) => onStreamEvent(turn, view, hooks, event));
  } catch {
    turn.error = turn.error || { detail: "The connection dropped before the answer was complete." };
  }
  return turn;
}
