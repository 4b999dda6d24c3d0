// A Server-Sent Events parser, as the HTML standard specifies it
// ("Interpreting an event stream"), fed with decoded text chunks.
//
// The console reads the stream with `fetch` rather than `EventSource`:
// Beacon names each event after its type (`event: order.created`), and
// `EventSource` hands named events only to listeners registered for that
// exact name, so a viewer of `order.*` or `*` could not see them.

export class SseParser {
  /**
   * `onEvent({type, data, id})` for each dispatched event (`id` is the last
   * event id in force, as `EventSource` reports it); `onRetry(ms)` for a
   * `retry:` field.
   */
  constructor({ onEvent, onRetry }) {
    this.onEvent = onEvent;
    this.onRetry = onRetry ?? (() => {});
    this.buffer = "";
    this.data = [];
    this.type = "";
    this.lastEventId = "";
    this.sawCarriageReturn = false;
  }

  push(chunk) {
    let text = chunk;
    // A CRLF split across chunks: the LF was already consumed with the CR.
    if (this.sawCarriageReturn && text.startsWith("\n")) text = text.slice(1);
    this.sawCarriageReturn = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      let end;
      if (cr === -1 && lf === -1) break;
      if (cr === -1 || (lf !== -1 && lf < cr)) end = lf;
      else end = cr;
      const line = this.buffer.slice(start, end);
      if (end === cr) {
        if (end + 1 === this.buffer.length) {
          this.sawCarriageReturn = true;
          start = end + 1;
        } else {
          start = this.buffer[end + 1] === "\n" ? end + 2 : end + 1;
        }
      } else {
        start = end + 1;
      }
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    let name = line;
    let value = "";
    if (colon !== -1) {
      name = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    switch (name) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
      default:
        break;
    }
    return undefined;
  }

  dispatch() {
    const type = this.type || "message";
    this.type = "";
    if (this.data.length === 0) return;
    const data = this.data.join("\n");
    this.data = [];
    this.onEvent({ type, data, id: this.lastEventId });
  }
}
