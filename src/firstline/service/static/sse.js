// Server-Sent Events over fetch(): EventSource cannot POST, so the chat reads the response body itself.

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
