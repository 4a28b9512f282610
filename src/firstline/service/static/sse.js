// Server-Sent Events, both ways the chat uses them:
// - readEvents(): a POST's streamed answer, read over fetch() (EventSource cannot POST);
// - openLiveStream(): the signed-in person's live notices (GET /v1/events) over EventSource, which
//   reconnects by itself (the server sends "retry: 3000").

/** Parse one SSE block ("event: x\ndata: {...}") into {event, data}; null for comments/keep-alives. */
export function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const raw = data.join("\n");
  try {
    return { event, data: JSON.parse(raw) };
  } catch {
    return { event, data: { text: raw } };
  }
}

/** Call onEvent({event, data}) for every event of a text/event-stream Response, as they arrive. */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const flush = (final) => {
    buffer = buffer.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const parsed = parseBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) onEvent(parsed);
    }
    if (final && buffer.trim()) {
      const parsed = parseBlock(buffer);
      buffer = "";
      if (parsed) onEvent(parsed);
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    // A lone "\r" at the end may be half of "\r\n": keep it until the next chunk.
    if (!buffer.endsWith("\r")) flush(false);
  }
  buffer += decoder.decode();
  flush(true);
}

const FAILURES_BEFORE_POLL = 3;
const FALLBACK_POLL_MS = 15000;
const RETRY_STREAM_MS = 60000;

/**
 * Listen to `url` (an event stream of notices). handlers: conversation(data), ticket(data), resync(),
 * open() — called each time the stream (re)opens, so the page can fetch what it missed while it was away —
 * down() when the browser gave up on the stream (e.g. the session expired: the page checks who is signed
 * in), and poll() for the fallback below.
 *
 * Fallback, only when the stream fails again and again (FAILURES_BEFORE_POLL errors with no open in
 * between) or the browser gives up on it (a proxy that refuses event streams, a server without the
 * route): poll() every
 * FALLBACK_POLL_MS, which is slow on purpose, and try the stream again every RETRY_STREAM_MS; the first
 * open stops the polling. A proxy that answers 200 but buffers the body cannot be seen from here (the
 * server's pings are SSE comments, which EventSource does not surface), so the chat also re-reads when
 * its tab becomes visible again.
 */
export function openLiveStream(url, handlers) {
  let source = null;
  let failures = 0;
  let pollTimer = null;
  let retryTimer = null;
  let stopped = false;

  const call = (name, ...args) => {
    try {
      handlers[name]?.(...args);
    } catch (err) {
      console.warn(err);
    }
  };
  const json = (raw) => {
    try {
      return JSON.parse(raw);
    } catch {
      return {};
    }
  };

  function startPolling() {
    if (pollTimer || stopped) return;
    pollTimer = setInterval(() => call("poll"), FALLBACK_POLL_MS);
    call("poll");
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (stopped) return;
    source = new EventSource(url, { withCredentials: true });
    source.addEventListener("open", () => {
      failures = 0;
      stopPolling();
      call("open");
    });
    source.addEventListener("conversation", (event) => call("conversation", json(event.data)));
    source.addEventListener("ticket", (event) => call("ticket", json(event.data)));
    source.addEventListener("resync", () => call("resync"));
    source.addEventListener("error", () => {
      failures += 1;
      if (failures >= FAILURES_BEFORE_POLL) startPolling();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, or not an event stream): ask the page why, poll, retry later.
        call("down");
        startPolling();
        retryTimer = setTimeout(connect, RETRY_STREAM_MS);
      }
    });
  }

  connect();
  return {
    close() {
      stopped = true;
      stopPolling();
      clearTimeout(retryTimer);
      source?.close();
    },
    get polling() {
      return Boolean(pollTimer);
    },
  };
}
