"""The Block Kit Firstline posts in Slack: replies, the code prompt, approval requests, the code modal.

Every builder returns plain JSON-ready data; the Web API client sends it. Buttons carry what the click
needs in their ``value`` (an approval id, a conversation id); nothing in a value is trusted on its own:
the click's handler checks the clicking user and the stored state again. Slack's limits are kept here:
at most 3,000 characters in a section's text (longer replies are cut into several sections between
paragraphs), 50 blocks a message, 2,000 characters in a button's value, 24 in a modal's title, and a
plain-text fallback (``text``) for notifications and screen readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from firstline.channels.slack_mrkdwn import chunks, escape, to_mrkdwn
from firstline.conversations import ApprovalRecord

__all__ = [
    "APPROVE",
    "CODE_CALLBACK",
    "CODE_INPUT",
    "DENY",
    "ENTER_CODE",
    "NEW_CODE",
    "NEW_CODE_TEXT",
    "Message",
    "approval_message",
    "code_modal",
    "decided_message",
    "link_message",
    "reply_message",
]

APPROVE = "firstline_approve"
DENY = "firstline_deny"
ENTER_CODE = "firstline_enter_code"
NEW_CODE = "firstline_new_code"
CODE_CALLBACK = "firstline_code"
CODE_INPUT = "code"
NEW_CODE_TEXT = "Please send me a new code."
MAX_BLOCKS = 50
MAX_TEXT = 39_000  # chat.postMessage truncates a message's text past 40,000 characters


@dataclass(frozen=True, slots=True)
class Message:
    """A message's fallback text and blocks, as chat.postMessage and chat.update take them."""

    text: str
    blocks: list[dict[str, Any]]

    def params(self) -> dict[str, str]:
        return {"text": self.text[:MAX_TEXT], "blocks": json.dumps(self.blocks, separators=(",", ":"))}


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "text": _plain(label), "value": value[:2000]}
    if style:
        button["style"] = style
    return button


def _sections(mrkdwn: str, room: int) -> list[dict[str, Any]]:
    pieces = chunks(mrkdwn or " ", 3000)
    if len(pieces) > room:  # a reply this long is rare: keep what fits and say so
        pieces = [*pieces[: room - 1], "_(The rest of this reply is in the web chat.)_"]
    return [_section(piece) for piece in pieces]


def reply_message(markdown: str, awaiting: str | None, conversation_id: str) -> Message:
    """A help desk reply in mrkdwn; when it waits for the identity code, with the buttons to enter it."""
    text = to_mrkdwn(markdown)
    actions: list[dict[str, Any]] = []
    if awaiting == "code":
        actions = [{"type": "actions", "block_id": "firstline_code_prompt", "elements": [
            _button(ENTER_CODE, "Enter the code", conversation_id, "primary"),
            _button(NEW_CODE, "Send a new code", conversation_id),
        ]}]  # fmt: skip
    return Message(text or " ", [*_sections(text, MAX_BLOCKS - len(actions)), *actions])


def code_modal(conversation_id: str, thread: str) -> dict[str, Any]:
    """The modal that asks for the code; ``private_metadata`` names the conversation and the Slack thread."""
    return {
        "type": "modal",
        "callback_id": CODE_CALLBACK,
        "private_metadata": json.dumps({"conversation_id": conversation_id, "thread": thread})[:3000],
        "title": _plain("Verification code"),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
        "blocks": [
            _section("Enter the code we just sent to your phone or e-mail. It is never shown in the channel."),
            {
                "type": "input",
                "block_id": CODE_INPUT,
                "label": _plain("Code"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": CODE_INPUT,
                    "min_length": 4,
                    "max_length": 12,
                    "placeholder": _plain("123456"),
                },
            },
        ],
    }


def _summary(record: ApprovalRecord, ticket: str | None) -> str:
    arguments = ", ".join(f"{k}: {v}" for k, v in sorted(record.arguments.items()))[:1500]
    lines = [
        f"*Approval needed:* `{escape(record.tool)}`" + (f" ({escape(arguments)})" if arguments else ""),
        f"*Requested for:* {escape(record.requested_by)}" + (f"   *Ticket:* {escape(ticket)}" if ticket else ""),
    ]
    if record.approvers:
        lines.append(f"*May decide:* {escape(', '.join(record.approvers))}")
    return "\n".join(lines)


def approval_message(record: ApprovalRecord, ticket: str | None) -> Message:
    """The request an approver sees, with Approve and Deny buttons (the value is the approval id)."""
    summary = _summary(record, ticket)
    return Message(
        f"Approval needed: {record.tool} for {record.requested_by}",
        [
            _section(summary),
            {"type": "actions", "block_id": "firstline_approval", "elements": [
                _button(APPROVE, "Approve", record.id, "primary"),
                _button(DENY, "Deny", record.id, "danger"),
            ]},
        ],
    )  # fmt: skip


def decided_message(record: ApprovalRecord, ticket: str | None, note: str = "") -> Message:
    """The same request once decided (by anyone, here or in the console): the outcome, no buttons."""
    outcome = f"{record.status.capitalize()} by {record.decided_by}"
    if record.reason:
        outcome += f": {record.reason}"
    lines = [_summary(record, ticket), f"*{escape(outcome)}*"]
    if note:
        lines.append(f"_{escape(note)}_")
    text = f"{record.tool} for {record.requested_by}: {outcome}" + (f" ({note})" if note else "")
    return Message(text, [_section("\n".join(lines))])


def link_message(code: str, url: str) -> Message:
    """What a Slack user who is not linked to a person yet reads: the code, and where to confirm it."""
    before = (
        "I don't know who you are on Slack yet, so I can't look at your account or tickets. To link this Slack "
        "account to you, sign in to the IT help desk at "
    )
    after = " and enter the link code {} there (it works for 15 minutes). Then write to me again."
    plain = before + url + after.format(code)
    mrkdwn = escape(before) + f"<{url}|{escape(url)}>" + escape(after).format(f"*{code}*")
    return Message(plain, [_section(mrkdwn)])
