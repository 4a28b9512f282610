// The chat's message box: Enter sends and Shift+Enter adds a line, a live character count, and a paste that
// would go over the 8,000-character limit refused with a reason (nothing is pasted or sent).
import { MAX_MESSAGE_CHARS } from "/static/common.js";

export function startComposer({ form, input, counter, error, send }) {
  function update() {
    const n = input.value.length;
    counter.textContent = `${n} / ${MAX_MESSAGE_CHARS}`;
    counter.classList.toggle("over", n > MAX_MESSAGE_CHARS);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });

  input.addEventListener("input", () => {
    update();
    if (input.value.length <= MAX_MESSAGE_CHARS && error.textContent.startsWith("That paste")) error.textContent = "";
  });

  input.addEventListener("paste", (event) => {
    const pasted = event.clipboardData ? event.clipboardData.getData("text") : "";
    const selected = Math.abs((input.selectionEnd ?? 0) - (input.selectionStart ?? 0));
    const total = input.value.length - selected + pasted.length;
    if (total > MAX_MESSAGE_CHARS) {
      event.preventDefault();
      error.textContent =
        `That paste is too long: the message would be ${total.toLocaleString()} characters and the limit is ` +
        "8,000. Nothing was pasted or sent. Shorten it, or send the important part.";
    }
  });

  return { update };
}
