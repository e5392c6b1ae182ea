// The encode-once fast path must not change a byte on the wire: frames built
// from cached encodings equal what stock tRPC + superjson sends.
import { createRequire } from "node:module";
import { transformTRPCResponse } from "@trpc/server/unstable-core-do-not-import";
import superjson from "superjson";
import { describe, expect, it } from "vitest";
import { NO_FRAME, PreparedJson, rememberEncoding, SubscriptionLane, textFrame, textFramePayloadLength, wireEncoder, wireTransformer } from "../src/server/wire";

/** `ws`'s own framing (its Sender, which @types/ws does not declare): the bytes a server's `send(text)` writes. */
const { Sender } = createRequire(import.meta.url)("ws") as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};
const wsTextFrame = (text: string) => Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));

const stockConfig = { transformer: { input: superjson, output: superjson } } as unknown as Parameters<typeof transformTRPCResponse>[0];
const ourConfig = { transformer: wireTransformer } as unknown as Parameters<typeof transformTRPCResponse>[0];

function frames(subscriptionId: number | string, trackedId: string, event: object, jsonrpc?: "2.0") {
  const untransformed = () => {
    const result: { type: "data"; data: unknown; id?: string } = { type: "data", data: event };
    result.id = trackedId;
    result.data = { id: trackedId, data: event };
    return { id: subscriptionId, jsonrpc, result };
  };
  return {
    stock: JSON.stringify(transformTRPCResponse(stockConfig, untransformed())),
    ours: wireEncoder.encode(transformTRPCResponse(ourConfig, untransformed())),
  };
}

const serialize = (value: unknown): unknown => wireTransformer.output.serialize(value);

const event = {
  type: "message.created",
  message: {
    id: "m1",
    seq: 7,
    content: 'quotes " and \\ backslashes, emoji 🙂, </script>',
    createdAt: new Date("2026-11-21T10:00:00.000Z"),
    metadata: { nested: { at: new Date(0), list: [1, "two", null] }, big: 12345678901234 },
  },
};

describe("wire format", () => {
  it("is byte-identical to stock tRPC + superjson for tracked events", () => {
    for (const [sub, jsonrpc] of [[1, undefined], ["abc", "2.0"]] as const) {
      const { stock, ours } = frames(sub, "7", event, jsonrpc);
      expect(ours).toBe(stock);
    }
  });

  it("reuses one encoding for every subscriber of the same event, and re-encodes for another id", () => {
    const a = serialize({ id: "7", data: event });
    const b = serialize({ id: "7", data: event });
    expect(a).toBeInstanceOf(PreparedJson);
    expect(b).toBe(a);
    const c = serialize({ id: "8", data: event });
    expect(c).not.toBe(a);
    expect(frames(3, "8", event).ours).toBe(frames(3, "8", event).stock);
  });

  it("builds frames from an encoding remembered where the event was written, byte-identical to encoding it again", () => {
    for (const [sub, jsonrpc] of [[1, undefined], ["abc", "2.0"]] as const) {
      const written = { ...event, message: { ...event.message, id: `m-remembered-${sub}` } };
      const stock = frames(sub, "9", written, jsonrpc).stock;
      rememberEncoding(written, superjson.serialize(written));
      expect(frames(sub, "10", written, jsonrpc).ours).toBe(frames(sub, "10", { ...written }, jsonrpc).stock);
      expect(frames(sub, "9", written, jsonrpc).ours).toBe(stock);
    }
    // The remembered encoding is what is used: a marker in it shows in the frame.
    const marked = { type: "message.created", n: 1 };
    rememberEncoding(marked, { json: { type: "message.created", n: 2 } });
    expect(frames(1, "1", marked).ours).toContain('"n":2');
  });

  it("encodes flat events (chat deltas) without superjson's walk, exactly as superjson does", () => {
    const nullProto = Object.assign(Object.create(null) as object, { type: "x", n: 1 });
    class Delta {
      type = "chat.delta";
    }
    const cases: object[] = [
      { type: "chat.delta", runId: "r", messageId: "m", offset: 0, text: 'tok "quoted" \\ 🙂 </script>' },
      {},
      { a: true, b: false, c: null, d: -1.5, e: 2 ** 53 },
      nullProto,
      // Not flat: each needs superjson's meta or walk, and must still match it.
      { n: -0 },
      { n: Number.NaN },
      { n: Number.POSITIVE_INFINITY },
      { u: undefined },
      { when: new Date(3) },
      { nested: { a: 1 } },
      { list: [1, 2] },
      { big: 2n },
      new Delta(),
    ];
    for (const data of cases) {
      const ours = serialize({ id: "5", data });
      const stock = superjson.serialize({ id: "5", data });
      expect(ours).toBeInstanceOf(PreparedJson);
      expect((ours as PreparedJson).json).toBe(JSON.stringify(stock));
      expect((ours as PreparedJson).value).toEqual(stock);
      const framed = frames(2, "5", data);
      expect(framed.ours).toBe(framed.stock);
    }
    // superjson refuses a `__proto__` key; so does the flat path.
    const protoKey = JSON.parse('{"__proto__":"p","type":"x"}') as object;
    expect(() => superjson.serialize({ id: "5", data: protoKey })).toThrow(/prototype pollution/);
    expect(() => serialize({ id: "5", data: protoKey })).toThrow(/prototype pollution/);
  });

  it("leaves everything else to superjson and JSON.stringify (queries, errors, untracked data)", () => {
    const plain = { when: new Date(1), n: 1 };
    expect(serialize(plain)).toEqual(superjson.serialize(plain));
    const message = { id: 1, result: { type: "started" } };
    expect(wireEncoder.encode(message)).toBe(JSON.stringify(message));
    const prepared = serialize({ id: "1", data: { when: new Date(2) } });
    // HTTP and SSE responses stringify the same value.
    expect(JSON.stringify({ x: prepared })).toBe(JSON.stringify({ x: superjson.serialize({ id: "1", data: { when: new Date(2) } }) }));
  });

  it("binds a subscription lane from its probe without sending anything, then builds the frames tRPC would send", () => {
    for (const [sub, jsonrpc] of [[1, undefined], ["abc", "2.0"]] as const) {
      const probe = { type: "stream.hidden" };
      const lane = new SubscriptionLane(probe);
      expect(lane.bound).toBe(false);
      // The probe goes through tRPC like any tracked value: the encoder binds the lane and sends nothing.
      expect(frames(sub, "6", probe, jsonrpc).ours).toBe(NO_FRAME);
      expect(lane.bound).toBe(true);
      const fresh = { ...event, message: { ...event.message, id: `m-${sub}` } };
      expect(lane.frame("7", fresh)).toEqual(wsTextFrame(frames(sub, "7", fresh, jsonrpc).stock));
      // One frame per event and subscription id, shared by every lane with that id.
      const other = new SubscriptionLane({ type: "stream.hidden" });
      other.bind(sub, jsonrpc);
      expect(other.frame("7", fresh)).toBe(lane.frame("7", fresh));
    }
  });

  it("builds a back-fill frame from an event's stored encoding, byte-identical to encoding the event", () => {
    const lane = new SubscriptionLane({ type: "stream.hidden" });
    lane.bind(4, undefined);
    const shared = { at: new Date(5) };
    const cases: object[] = [
      event,
      { type: "session.updated", session: { id: "s", title: "plain strings only" } },
      { type: "x", undef: undefined, big: 2n ** 70n, when: new Date(9), list: [new Date(1), { deep: new Map([["k", 1]]) }] },
      // Referential equalities in the meta: encoded again, same bytes.
      { type: "twice", a: shared, b: shared },
    ];
    for (const value of cases) {
      const stored = superjson.serialize(value);
      // The stored form went through a JSON column: a copy, not the same objects.
      const text = JSON.stringify(stored);
      const copy = JSON.parse(text) as typeof stored;
      const stock = frames(4, "12", value).stock;
      const fromStore = (storedText?: string) => lane.frameFromStored("12", copy, storedText) ?? lane.frame("12", value);
      expect(fromStore()).toEqual(wsTextFrame(stock));
      // With the stored text (SQLite), spliced rather than stringified again: the same bytes.
      expect(fromStore(text)).toEqual(wsTextFrame(stock));
      // A text that is not JSON.stringify's form is not spliced (encoded from the parsed copy instead).
      expect(fromStore(JSON.stringify(stored, null, 1))).toEqual(wsTextFrame(stock));
    }
    // The text is what is sent: a marker in it (and not in the parsed copy) shows in the frame.
    const stored = superjson.serialize({ type: "t", n: 1 });
    expect(lane.frameFromStored("13", stored, JSON.stringify({ ...stored, json: { type: "t", n: 2 } }))?.toString()).toContain('"n":2');
  });

  it("frames text exactly as ws does, at every length encoding", () => {
    // 7-bit, 16-bit and 64-bit payload lengths and their edges, with multi-byte characters.
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
      for (const text of ["x".repeat(length), "é".repeat(Math.floor(length / 2)) + "x".repeat(length % 2)]) {
        const frame = textFrame(text);
        expect(frame).toEqual(wsTextFrame(text));
        expect(textFramePayloadLength(frame)).toBe(Buffer.byteLength(text));
      }
    }
  });
});
