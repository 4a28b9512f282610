// Telling the person about updates while they look at another tab: a count in the tab title ("(2) Firstline
// IT help"), and, only when they turn it on with a click, a desktop notification. Nothing here asks for the
// browser's permission by itself: Notification.requestPermission() runs only inside the button's click.

const OPT_IN_KEY = "firstline.notifications";

function stored() {
  try {
    return localStorage.getItem(OPT_IN_KEY);
  } catch {
    return null;
  }
}

function store(value) {
  try {
    localStorage.setItem(OPT_IN_KEY, value);
  } catch {
    /* storage disabled: the choice lasts for this page */
  }
}

/** button: the on/off toggle; status: where to say what happened (a role=status element). */
export function startAlerts(button, status) {
  const baseTitle = document.title;
  const supported = "Notification" in window;
  let unseen = 0;
  let choice = stored();

  const optedIn = () => supported && Notification.permission === "granted" && choice === "on";

  function render() {
    button.hidden = !supported;
    if (!supported) return;
    const blocked = Notification.permission === "denied";
    button.disabled = blocked;
    button.setAttribute("aria-pressed", String(optedIn()));
    button.textContent = blocked
      ? "Desktop notifications are blocked in this browser"
      : optedIn()
        ? "Turn off desktop notifications"
        : "Turn on desktop notifications";
  }

  button.addEventListener("click", async () => {
    if (optedIn()) {
      choice = "off";
      status.textContent = "Desktop notifications are off.";
    } else {
      const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      choice = answer === "granted" ? "on" : "off";
      status.textContent =
        answer === "granted"
          ? "Desktop notifications are on: you'll get one when a reply, an approval or a ticket update arrives while this tab is in the background."
          : "Notifications were not allowed, so none will be shown.";
    }
    store(choice);
    render();
  });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      unseen = 0;
      document.title = baseTitle;
    }
  });

  render();
  return {
    /** An update arrived: count it in the title and notify, but only while the tab is hidden. */
    notice({ title, body, tag, onClick }) {
      if (!document.hidden) return;
      unseen += 1;
      document.title = `(${unseen}) ${baseTitle}`;
      if (!optedIn()) return;
      try {
        const shown = new Notification(title, { body, tag });
        shown.addEventListener("click", () => {
          window.focus();
          shown.close();
          onClick?.();
        });
      } catch (err) {
        console.warn("desktop notification failed", err);
      }
    },
  };
}
