// "Connect Slack / Teams / e-mail": Firstline in another channel gives an unknown person a link code; entering
// it here, signed in, ties that channel identity to this account (POST /v1/me/links). The list shows what is
// tied and lets the person untie it (DELETE /v1/me/links/{channel}/{external_id}).
import { ApiError, api, clear, describeError, el } from "/static/common.js";

const CHANNELS = { slack: "Slack", teams: "Microsoft Teams", email: "E-mail" };
const CODE = /^[A-Z0-9]{4}-?[A-Z0-9]{4}$/;

const channelName = (channel) => CHANNELS[channel] || channel;

export function startLinks({ form, input, status, list }) {
  let available = true;

  function say(text, kind = "notice") {
    status.className = text ? kind : "";
    status.textContent = text;
  }

  function render(links) {
    if (!links.length) {
      clear(list, el("li", { class: "hint", text: "No other channels connected yet." }));
      return;
    }
    clear(
      list,
      links.map((link) =>
        el(
          "li",
          {},
          el("span", { text: `${channelName(link.channel)}: ${link.external_id}` }),
          " ",
          el("button", {
            type: "button",
            class: "secondary small",
            text: "Disconnect",
            "aria-label": `Disconnect ${channelName(link.channel)} ${link.external_id}`,
            on: { click: () => unlink(link) },
          }),
        ),
      ),
    );
  }

  async function refresh() {
    if (!available) return;
    try {
      render((await api("/v1/me/links")).links || []);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 403)) {
        available = false; // this server has no channel links (or this sign-in cannot have them)
        form.closest("section").hidden = true;
      }
    }
  }

  async function unlink(link) {
    try {
      await api(`/v1/me/links/${encodeURIComponent(link.channel)}/${encodeURIComponent(link.external_id)}`, {
        method: "DELETE",
      });
      say(`${channelName(link.channel)} ${link.external_id} is no longer connected to you.`);
    } catch (err) {
      say(describeError(err), "error");
    }
    refresh();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim().toUpperCase().replace(/\s+/g, "");
    if (!CODE.test(code)) {
      say("A link code has 8 letters and digits, like ABCD-EFGH. Check the code and try again.", "error");
      input.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const linked = await api("/v1/me/links", { method: "POST", body: { code: code.includes("-") ? code : `${code.slice(0, 4)}-${code.slice(4)}` } });
      input.value = "";
      say(`Connected: ${channelName(linked.channel)} ${linked.external_id} now reaches Firstline as you.`);
      refresh();
    } catch (err) {
      say(describeError(err), "error");
    } finally {
      button.disabled = false;
    }
  });

  refresh();
  return { refresh };
}
