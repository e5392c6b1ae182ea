// The hub's frames and this server's transformer and encoder must not change a
// byte on the wire: everything equals what stock tRPC + superjson sends.
import { createRequire } from "node:module";
import { transformTRPCResponse } from "@trpc/server/unstable-core-do-not-import";
import superjson from "superjson";
import { describe, expect, it } from "vitest";
import { ATTACH_ONLY, EventFrames, Lane, textFrame, textFramePayloadLength, wireEncoder, wireTransformer } from "../src/server/realtime/frames";

/** `ws`'s own framing (its Sender, which @types/ws does not declare): the bytes a server's `send(text)` writes. */
const { Sender } = createRequire(import.meta.url)("ws") as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};
const wsTextFrame = (text: string) => Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));

const stockConfig = { transformer: { input: superjson, output: superjson } } as unknown as Parameters<typeof transformTRPCResponse>[0];
const ourConfig = { transformer: wireTransformer } as unknown as Parameters<typeof transformTRPCResponse>[0];

function framesOf(subscriptionId: number | string, trackedId: string, event: object, jsonrpc?: "2.0") {
  const untransformed = () => {
    const result: { type: "data"; data: unknown; id?: string } = { type: "data", data: event };
    result.id = trackedId;
    result.data = { id: trackedId, data: event };
    return { id: subscriptionId, jsonrpc, result };
  };
  return {
    get stock() {
      return JSON.stringify(transformTRPCResponse(stockConfig, untransformed()));
    },
    get ours() {
      return wireEncoder.encode(transformTRPCResponse(ourConfig, untransformed()));
    },
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
      const { stock, ours } = framesOf(sub, "7", event, jsonrpc);
      expect(ours).toBe(stock);
    }
  });

  it("builds one frame per event and subscription id, shared by every lane with that id, and another for another id", () => {
    const frames = new EventFrames(event);
    const a = new Lane();
    a.bind(3, undefined);
    const b = new Lane();
    b.bind(3, undefined);
    const first = frames.frame(a, "7");
    expect(first).toEqual(wsTextFrame(framesOf(3, "7", event).stock));
    expect(frames.frame(b, "7")).toBe(first);
    const other = new Lane();
    other.bind("x", "2.0");
    expect(frames.frame(other, "7")).toEqual(wsTextFrame(framesOf(("x"), "7", event, "2.0").stock));
    expect(frames.frame(a, "8")).toEqual(wsTextFrame(framesOf(3, "8", event).stock));
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
      expect(JSON.stringify(ours)).toBe(JSON.stringify(stock));
      expect(ours).toEqual(stock);
      const framed = framesOf(2, "5", data);
      expect(framed.ours).toBe(framed.stock);
      const lane = new Lane();
      lane.bind(2, undefined);
      expect(lane.frame("5", data)).toEqual(wsTextFrame(framed.stock));
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
    // HTTP and SSE responses stringify the same value.
    expect(JSON.stringify({ x: serialize({ id: "1", data: { when: new Date(2) } }) })).toBe(JSON.stringify({ x: superjson.serialize({ id: "1", data: { when: new Date(2) } }) }));
  });

  it("binds a lane from its probe without sending anything, then builds the frames tRPC would send", () => {
    for (const [sub, jsonrpc] of [[1, undefined], ["abc", "2.0"]] as const) {
      const lane = new Lane();
      expect(lane.bound).toBe(false);
      // The probe goes through tRPC like any tracked value: the encoder binds the lane and sends nothing.
      expect(framesOf(sub, "6", lane.probe, jsonrpc).ours).toBe(ATTACH_ONLY);
      expect(lane.bound).toBe(true);
      const fresh = { ...event, message: { ...event.message, id: `m-${sub}` } };
      expect(lane.frame("7", fresh)).toEqual(wsTextFrame(framesOf(sub, "7", fresh, jsonrpc).stock));
    }
  });

  it("builds a back-fill frame from an event's stored encoding, byte-identical to encoding the event", () => {
    const lane = new Lane();
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
      const stock = framesOf(4, "12", value).stock;
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
