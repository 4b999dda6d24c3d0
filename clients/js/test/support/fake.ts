/**
 * A scripted `fetch` for tests that need no server: each call is answered by
 * the next handler, which gets a controllable event-stream body.
 */
import type { FetchLike } from "@beacon/client";

export interface FakeCall {
  url: string;
  headers: Record<string, string>;
  at: number;
  signal: AbortSignal;
}

/** A stream body the test writes to. */
export interface FakeStream {
  write(text: string | Uint8Array): void;
  end(): void;
  fail(error?: unknown): void;
}

export type FakeAnswer =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { stream: (s: FakeStream) => void; headers?: Record<string, string> }
  | { networkError: true };

export function fakeFetch(answers: ((call: FakeCall) => FakeAnswer) | FakeAnswer[]): {
  fetch: FetchLike;
  calls: FakeCall[];
} {
  const calls: FakeCall[] = [];
  const encoder = new TextEncoder();
  const fetch: FetchLike = async (url, init) => {
    const call: FakeCall = { url, headers: { ...init.headers }, at: performance.now(), signal: init.signal };
    calls.push(call);
    const answer = Array.isArray(answers)
      ? answers[Math.min(calls.length - 1, answers.length - 1)]!
      : answers(call);
    if ("networkError" in answer) throw new TypeError("fetch failed");
    if ("status" in answer) {
      return new Response(answer.body ?? "", {
        status: answer.status,
        headers: answer.headers ?? { "content-type": "application/json" },
      });
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let open = true;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        open = false;
      },
    });
    const stream: FakeStream = {
      write(text) {
        if (open) controller.enqueue(typeof text === "string" ? encoder.encode(text) : text);
      },
      end() {
        if (open) controller.close();
        open = false;
      },
      fail(error) {
        if (open) controller.error(error ?? new TypeError("terminated"));
        open = false;
      },
    };
    init.signal.addEventListener("abort", () => stream.fail(new DOMException("aborted", "AbortError")));
    queueMicrotask(() => answer.stream(stream));
    return new Response(body, {
      status: 200,
      headers: answer.headers ?? { "content-type": "text/event-stream" },
    });
  };
  return { fetch, calls };
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A `beacon.connected` frame. */
export function connected(id: string, resume = "none", heartbeat = 15, retryMs = 5): string {
  return `: beacon\n\nretry: ${retryMs}\n\nid: ${id}\nevent: beacon.connected\ndata: ${JSON.stringify({
    connection: "c-1",
    tenant: "t",
    resume,
    last_event_id: null,
    heartbeat_s: heartbeat,
  })}\n\n`;
}

/** An event frame as the server writes it. */
export function eventFrame(id: string, type: string, data: unknown): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({
    id,
    specversion: "1.0",
    type,
    source: "/tenants/t",
    time: "2026-01-01T00:00:00.000Z",
    datacontenttype: "application/json",
    data,
  })}\n\n`;
}
