import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { SseDecoder, SseParser, type SseMessage, type SseParserCallbacks } from "@beacon/client";

function parse(chunks: string[]) {
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const ids: string[] = [];
  const parser = new SseParser({
    onMessage: (m) => messages.push(m),
    onComment: (c) => comments.push(c),
    onRetry: (r) => retries.push(r),
    onId: (id) => ids.push(id),
  });
  for (const c of chunks) parser.push(c);
  return { messages, comments, retries, ids, parser };
}

/** Every way of cutting `text` in two, and one character at a time. */
function splits(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

describe("SSE parser", () => {
  it("parses id, event, multi-line data, comments and retry", () => {
    const { messages, comments, retries } = parse([
      ": beacon\n\nretry: 2000\n\nid: a_1-0\nevent: order.created\ndata: {\"a\":\ndata: 1}\n\n:\n\n",
    ]);
    assert.deepEqual(comments, ["beacon", ""]);
    assert.deepEqual(retries, [2000]);
    assert.equal(messages.length, 1);
    assert.deepEqual(messages[0], {
      event: "order.created",
      data: '{"a":\n1}',
      lastEventId: "a_1-0",
      hasId: true,
    });
  });

  it("gives the same events for LF, CRLF and CR line ends, however the text is cut", () => {
    const lf = "id: 1\nevent: x\ndata: one\ndata: two\n\n: hb\n\ndata: three\n\n";
    for (const eol of ["\n", "\r\n", "\r"]) {
      const text = lf.replace(/\n/g, eol);
      for (const chunks of splits(text)) {
        const { messages, comments } = parse(chunks);
        assert.deepEqual(
          messages.map((m) => [m.event, m.data, m.lastEventId, m.hasId]),
          [
            ["x", "one\ntwo", "1", true],
            ["message", "three", "1", false],
          ],
          `eol ${JSON.stringify(eol)} chunks ${JSON.stringify(chunks)}`,
        );
        assert.deepEqual(comments, ["hb"]);
      }
    }
  });

  it("a CRLF cut between CR and LF is one line end", () => {
    const { messages } = parse(["data: a\r", "\n\r", "\ndata: b\r\n\r\n"]);
    assert.deepEqual(messages.map((m) => m.data), ["a", "b"]);
  });

  it("follows the field rules of the standard", () => {
    const { messages, retries } = parse([
      "data\n\n", // no colon: a field with an empty value
      "data:no-space\ndata:  two-spaces\n\n",
      "retry: 12a\nretry: -1\nretry:  5\nretry: 7\n\n", // only ASCII digits count
      "unknown: x\ndata: ok\n\n",
      "event: e\n\n", // no data: not dispatched, the type does not leak into the next event
      "data: after\n\n",
    ]);
    assert.deepEqual(
      messages.map((m) => [m.event, m.data]),
      [
        ["message", ""],
        ["message", "no-space\n two-spaces"],
        ["message", "ok"],
        ["message", "after"],
      ],
    );
    assert.deepEqual(retries, [7]);
  });

  it("an id without data still moves the last event id; an id with NUL is ignored", () => {
    const { messages, ids, parser } = parse(["id: 5\n\n", "id: 6\u0000x\ndata: a\n\n", "id\ndata: b\n\n"]);
    assert.deepEqual(ids, ["5"]);
    assert.equal(messages[0]!.lastEventId, "5", "the id with NUL is ignored");
    assert.equal(messages[0]!.hasId, false);
    assert.equal(messages[1]!.lastEventId, "", "an empty id resets it");
    assert.equal(parser.lastEventId, "");
  });

  it("discards an unfinished event, keeps the id of the last complete one", () => {
    const { messages, parser } = parse(["id: 1\ndata: a\n\nid: 2\ndata: cut"]);
    assert.equal(messages.length, 1);
    parser.reset();
    parser.push("data: next\n\n");
    assert.equal(parser.lastEventId, "1");
    assert.equal(messages[1]!.data, "next");
    assert.equal(messages[1]!.lastEventId, "1");
  });

  it("skips one leading BOM", () => {
    const { messages } = parse(["\ufeff", "data: x\n\n"]);
    assert.deepEqual(messages.map((m) => m.data), ["x"]);
  });

  it("decodes UTF-8 split inside a character", () => {
    const bytes = new TextEncoder().encode('data: {"name":"Zoë €"}\n\n');
    const messages: SseMessage[] = [];
    const decoder = new SseDecoder({ onMessage: (m) => messages.push(m) });
    for (const b of bytes) decoder.push(Uint8Array.of(b));
    assert.equal(messages[0]!.data, '{"name":"Zoë €"}');
  });
});

/**
 * One item of `protocol/vectors/sse.json`: what the parser reported, in
 * order (the Rust parser's `Item`; `id` is the `onId` callback).
 */
type Item =
  | { type: "message"; event: string; data: string; lastEventId: string | null; hasId: boolean }
  | { type: "comment"; text: string }
  | { type: "retry"; ms: number }
  | { type: "id"; id: string };

/** One vector: an input and what parsing it gives, however it is cut. */
interface Vector {
  name: string;
  input: string;
  /** The last event id the stream resumed from, if any. */
  resume?: string;
  items: Item[];
  /** The parser's last event id at the end. */
  lastEventId: string | null;
}

/** The vectors the Rust parser is tested with too (`protocol/tests/vectors.rs`). */
function vectors(): Vector[] {
  // From `.test-build/test/` up to the repository's root.
  const path = new URL("../../../../protocol/vectors/sse.json", import.meta.url);
  const doc = JSON.parse(readFileSync(path, "utf8")) as { vectors: Vector[] };
  return doc.vectors;
}

/** Callbacks that record every item, in order. */
function recorder(items: Item[]): SseParserCallbacks {
  return {
    onMessage: (m) =>
      items.push({
        type: "message",
        event: m.event,
        data: m.data,
        lastEventId: m.lastEventId ?? null,
        hasId: m.hasId,
      }),
    onComment: (text) => items.push({ type: "comment", text }),
    onRetry: (ms) => items.push({ type: "retry", ms }),
    onId: (id) => items.push({ type: "id", id }),
  };
}

/** What `chunks` of text give, from a parser resumed after `resume`. */
function parseText(resume: string | undefined, chunks: string[]) {
  const items: Item[] = [];
  const parser = new SseParser(recorder(items), { lastEventId: resume });
  for (const chunk of chunks) parser.push(chunk);
  return { items, lastEventId: parser.lastEventId ?? null };
}

/** What `chunks` of bytes give, decoded, from a parser resumed after `resume`. */
function parseBytes(resume: string | undefined, chunks: Uint8Array[]) {
  const items: Item[] = [];
  const decoder = new SseDecoder(recorder(items), { lastEventId: resume });
  for (const chunk of chunks) decoder.push(chunk);
  return { items, lastEventId: decoder.parser.lastEventId ?? null };
}

describe("SSE parser: the shared vectors", () => {
  const all = vectors();

  it("has the vectors", () => {
    assert.ok(all.length >= 8, `only ${all.length} vectors`);
  });

  for (const vector of all) {
    const want = { items: vector.items, lastEventId: vector.lastEventId };

    it(`${vector.name}: text whole, one character at a time, cut in two anywhere`, () => {
      assert.deepEqual(parseText(vector.resume, [vector.input]), want, "whole");
      const chars = [...vector.input];
      assert.deepEqual(parseText(vector.resume, chars), want, "one character at a time");
      for (let cut = 0; cut <= chars.length; cut++) {
        const chunks = [chars.slice(0, cut).join(""), chars.slice(cut).join("")];
        assert.deepEqual(parseText(vector.resume, chunks), want, `cut at character ${cut}`);
      }
    });

    it(`${vector.name}: UTF-8 whole, one byte at a time, cut in two anywhere`, () => {
      const bytes = new TextEncoder().encode(vector.input);
      assert.deepEqual(parseBytes(vector.resume, [bytes]), want, "whole");
      const singles = [...bytes].map((b) => Uint8Array.of(b));
      assert.deepEqual(parseBytes(vector.resume, singles), want, "one byte at a time");
      for (let cut = 0; cut <= bytes.length; cut++) {
        const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
        assert.deepEqual(parseBytes(vector.resume, chunks), want, `cut at byte ${cut}`);
      }
    });
  }
});
