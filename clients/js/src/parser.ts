/**
 * A streaming parser for `text/event-stream`, following the HTML Living
 * Standard's "event stream interpretation" (the rules `EventSource` uses):
 *
 * - lines end with CRLF, LF or CR (a CRLF split across chunks counts once);
 * - a line starting with `:` is a comment;
 * - `field: value` (one space after the colon is removed; a line without a
 *   colon is a field with an empty value);
 * - `data` lines accumulate, joined by LF; `event` names the type (default
 *   `message`); `id` sets the last event id (ignored if it contains NUL);
 *   `retry` (ASCII digits only) sets the reconnection time;
 * - an empty line dispatches the event; an event with no data is not
 *   dispatched, but its `id` still becomes the last event id;
 * - a leading UTF-8 BOM is skipped, and whatever is left when the stream
 *   ends without an empty line is discarded.
 */

/** One dispatched event of the stream. */
export interface SseMessage {
  /** The `event:` field, `message` when absent. */
  event: string;
  /** The `data:` lines joined by LF. */
  data: string;
  /**
   * The last event id after this event (the stream's, as `EventSource`
   * keeps it: it persists until an `id:` field changes it). `undefined`
   * while the stream has not set one.
   */
  lastEventId: string | undefined;
  /** Whether this very event carried an `id:` field. */
  hasId: boolean;
}

export interface SseParserCallbacks {
  /** An event was dispatched. */
  onMessage?: (message: SseMessage) => void;
  /** A `retry:` field with a valid value (milliseconds). */
  onRetry?: (ms: number) => void;
  /** A comment line (without the leading colon); heartbeats are `""`. */
  onComment?: (text: string) => void;
  /**
   * An event without data (so not dispatched) carried an `id:` field: the
   * last event id is now `id` all the same, as the standard says.
   */
  onId?: (id: string) => void;
}

export interface SseParserOptions {
  /**
   * The last event id of the stream this one resumes (a reconnection with
   * `Last-Event-ID`): events without an `id:` field report it until the
   * stream sets another, as `EventSource` keeps it across reconnections.
   */
  lastEventId?: string | undefined;
}

/**
 * Parses decoded text pushed in arbitrary chunks. Feed it with
 * {@link SseParser.push}; for raw bytes use {@link SseDecoder}.
 */
export class SseParser {
  private buffer = "";
  /** The previous chunk ended with CR: an LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private started = false;
  private data: string[] = [];
  private eventType = "";
  /** The `id:` of the event being read (the standard's "last event ID buffer"). */
  private idBuffer: string | undefined;
  /** The last event id as of the last dispatch. */
  private committedId: string | undefined;
  private idSeen = false;

  constructor(
    private readonly callbacks: SseParserCallbacks,
    options: SseParserOptions = {},
  ) {
    this.idBuffer = options.lastEventId;
    this.committedId = options.lastEventId;
  }

  /** The last event id set by the stream so far. */
  get lastEventId(): string | undefined {
    return this.committedId;
  }

  /** Parses one chunk of text; complete lines are processed at once. */
  push(chunk: string): void {
    if (chunk.length === 0) return;
    let text = chunk;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (text.charCodeAt(0) === 0x0a) text = text.slice(1);
    }
    if (!this.started && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      this.started = true;
    }
    let start = 0;
    const buffer = this.buffer + text;
    this.buffer = "";
    const n = buffer.length;
    for (let i = 0; i < n; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.line(buffer.slice(start, i));
      if (c === 0x0d) {
        if (i + 1 < n) {
          if (buffer.charCodeAt(i + 1) === 0x0a) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
    }
    this.buffer = buffer.slice(start);
  }

  /**
   * Ends the stream: an incomplete event is discarded (as the standard
   * says) and the parser is ready for a new stream. The last event id is
   * kept, as `EventSource` keeps it across reconnections.
   */
  reset(): void {
    this.buffer = "";
    this.pendingCr = false;
    this.started = false;
    this.data = [];
    this.eventType = "";
    this.idSeen = false;
    this.idBuffer = this.committedId;
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(":");
    if (colon === 0) {
      this.callbacks.onComment?.(line.slice(1).replace(/^ /, ""));
      return;
    }
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    }
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\u0000")) {
          this.idBuffer = value;
          this.idSeen = true;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.callbacks.onRetry?.(Number.parseInt(value, 10));
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
  }

  private dispatch(): void {
    const hasId = this.idSeen;
    this.idSeen = false;
    this.committedId = this.idBuffer;
    if (this.data.length === 0) {
      this.eventType = "";
      if (hasId && this.committedId !== undefined) this.callbacks.onId?.(this.committedId);
      return;
    }
    const message: SseMessage = {
      event: this.eventType === "" ? "message" : this.eventType,
      data: this.data.join("\n"),
      lastEventId: this.committedId,
      hasId,
    };
    this.data = [];
    this.eventType = "";
    this.callbacks.onMessage?.(message);
  }
}

/**
 * Bytes in, events out: UTF-8 decoding that copes with a character split
 * across chunks, in front of an {@link SseParser}.
 */
export class SseDecoder {
  private decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  readonly parser: SseParser;

  constructor(callbacks: SseParserCallbacks, options: SseParserOptions = {}) {
    this.parser = new SseParser(callbacks, options);
  }

  push(bytes: Uint8Array): void {
    this.parser.push(this.decoder.decode(bytes, { stream: true }));
  }

  /** Ends the stream (see {@link SseParser.reset}). */
  reset(): void {
    this.decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    this.parser.reset();
  }
}
