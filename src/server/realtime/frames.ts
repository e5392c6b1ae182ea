// What goes on the wire, byte for byte what stock tRPC 11 with superjson
// sends (tests/wire.test.ts), so every tRPC client decodes it:
// - the tRPC transformer and WebSocket encoder of this server;
// - WebSocket frames built once per event and subscription id, which the hub
//   writes to every subscriber's TCP socket as they are (hub.ts), from a live
//   event, or from an event's stored encoding (a back-fill sends it without
//   encoding it again).
//
// A subscription on a WebSocket learns its JSON-RPC id through tRPC itself:
// its stream yields a `LaneProbe` once; the transformer passes it through,
// the encoder binds the probe's lane to the id and returns ATTACH_ONLY, which
// the connection does not send (connection.ts). Nothing else is ever encoded
// as the empty string.
import type { CombinedDataTransformer } from "@trpc/server";
import type { Encoder } from "@trpc/server/adapters/ws";
import superjson, { type SuperJSONResult } from "superjson";
import type { SessionEvent } from "../../shared/events";
import { decodeInput } from "../auth/input-bounds";

/** What the encoder returns for a lane probe: the connection sends nothing for it. */
export const ATTACH_ONLY = "";

/** Distinct subscription ids whose frames one event keeps (beyond it frames are built per send). */
const FRAMES_PER_EVENT = 16;

/**
 * True when superjson encodes `data` as itself, with no meta: a plain object
 * whose values are strings, booleans, null, or finite numbers other than -0
 * (and no `__proto__` key, which superjson rejects).
 */
function isFlatJson(data: object): boolean {
  const proto: unknown = Object.getPrototypeOf(data);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in data) {
    if (key === "__proto__") return false; // superjson refuses it (prototype pollution): so must this path
    const value: unknown = (data as Record<string, unknown>)[key];
    if (typeof value === "string" || typeof value === "boolean" || value === null) continue;
    if (typeof value === "number" && Number.isFinite(value) && !Object.is(value, -0)) continue;
    return false;
  }
  return true;
}

/** superjson's encoding of tracked `{ id, data }`: a flat event (a chat delta) is its own encoding, without superjson's walk. */
function encodeTracked(id: string, data: object): SuperJSONResult {
  // A flat object is JSON as it is (isFlatJson checked every value).
  return isFlatJson(data) ? ({ json: { id, data } } as SuperJSONResult) : superjson.serialize({ id, data });
}

/** The JSON text of tracked `{ id, data }` as superjson and JSON.stringify make it. */
export function trackedJson(id: string, data: object): string {
  return JSON.stringify(encodeTracked(id, data));
}

/** The meta of tracked `{ id, data }` given `data`'s encoding; undefined when none; null when not a plain `values` meta. */
function trackedMeta({ meta }: SuperJSONResult): SuperJSONResult["meta"] | null {
  if (meta === undefined) return undefined;
  const { values, v, ...rest } = meta;
  if (Object.keys(rest).length > 0 || Array.isArray(values)) return null;
  return {
    ...(values === undefined ? {} : { values: Object.fromEntries(Object.entries(values).map(([path, type]) => [`data.${path}`, type])) }),
    ...(v === undefined ? {} : { v }),
  };
}

/**
 * The JSON text superjson gives for tracked `{ id, data }`, built from
 * `data`'s stored encoding: spliced from `storedText` when it is
 * `JSON.stringify(stored)` (SQLite gives the text), else stringified from
 * `stored`. Null when the meta holds more than plain `values` (referential
 * equalities and the like): then encode the decoded event instead.
 */
export function trackedJsonFromStored(id: string, stored: SuperJSONResult, storedText?: string): string | null {
  const meta = trackedMeta(stored);
  if (meta === null) return null;
  const metaText = meta === undefined ? "" : `,"meta":${JSON.stringify(meta)}`;
  if (storedText !== undefined) {
    const head = '{"json":';
    const tail = stored.meta === undefined ? "}" : `,"meta":${JSON.stringify(stored.meta)}}`;
    if (storedText.startsWith(head) && storedText.endsWith(tail) && storedText.length >= head.length + tail.length + 2) {
      return `{"json":{"id":${JSON.stringify(id)},"data":${storedText.slice(head.length, storedText.length - tail.length)}}${metaText}}`;
    }
  }
  return `{"json":${JSON.stringify({ id, data: stored.json })}${metaText}}`;
}

/**
 * `text` as one complete WebSocket text frame from a server: FIN, opcode 1,
 * no mask, no compression (RFC 6455 §5.2), the bytes `ws` writes for
 * `send(text)` (as header and payload), here in one buffer.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = length > 0xffff ? 10 : length > 125 ? 4 : 2;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81;
  if (header === 2) {
    frame[1] = length;
  } else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header, "utf8");
  return frame;
}

/** The payload length of a frame made by `textFrame` (what a send counts as bytes out). */
export function textFramePayloadLength(frame: Buffer): number {
  const marker = (frame[1] ?? 0) & 0x7f;
  return frame.length - (marker === 127 ? 10 : marker === 126 ? 4 : 2);
}

/**
 * One subscription's place on the wire: the start of every data message tRPC
 * sends on it (`{"id":…,"result":{"type":"data","data":`), known once its
 * probe went through the encoder.
 */
export class Lane {
  private prefix: string | null = null;
  /** Yield it once (tracked) through tRPC: the encoder binds this lane and nothing is sent. */
  readonly probe = new LaneProbe(this);

  get bound(): boolean {
    return this.prefix !== null;
  }

  bind(subscriptionId: unknown, jsonrpc: unknown): void {
    let prefix = `{"id":${JSON.stringify(subscriptionId)}`;
    if (jsonrpc !== undefined) prefix += `,"jsonrpc":${JSON.stringify(jsonrpc)}`;
    this.prefix = `${prefix},"result":{"type":"data","data":`;
  }

  /** The bound prefix (a frame before the probe went through is a bug). */
  get start(): string {
    if (this.prefix === null) throw new Error("a lane's frame was asked for before its probe bound it");
    return this.prefix;
  }

  /** The frame tRPC sends for `tracked(id, data)` on this subscription. */
  frame(id: string, data: object): Buffer {
    return frameOf(this.start, id, trackedJson(id, data));
  }

  /** The frame of a stored event (back-fill); null when its encoding cannot be reused (then `frame` the decoded event). */
  frameFromStored(id: string, stored: SuperJSONResult, storedText?: string): Buffer | null {
    const json = trackedJsonFromStored(id, stored, storedText);
    return json === null ? null : frameOf(this.start, id, json);
  }
}

function frameOf(prefix: string, id: string, json: string): Buffer {
  return textFrame(`${prefix}${json},"id":${JSON.stringify(id)}}}`);
}

/**
 * What a stream yields to bind its lane: typed as the `stream.hidden` event,
 * so the stream's type stays the procedure's, but never sent as one (the
 * transformer and encoder recognise it by its class).
 */
export class LaneProbe implements Extract<SessionEvent, { type: "stream.hidden" }> {
  readonly type = "stream.hidden";

  constructor(readonly lane: Lane) {}
}

/**
 * One event's frames, shared by every subscriber of one delivery: its tracked
 * JSON for one id (made again if another id is asked for), and its frame per
 * subscription prefix (subscribers of one client library share their ids).
 */
export class EventFrames {
  private id: string | null = null;
  private json = "";
  private frames: Map<string, Buffer> | null = null;

  constructor(private readonly data: object) {}

  frame(lane: Lane, id: string): Buffer {
    const prefix = lane.start;
    if (id !== this.id) {
      this.id = id;
      this.json = trackedJson(id, this.data);
      this.frames = null;
    }
    const hit = this.frames?.get(prefix);
    if (hit) return hit;
    const frame = frameOf(prefix, id, this.json);
    this.frames ??= new Map();
    if (this.frames.size < FRAMES_PER_EVENT) this.frames.set(prefix, frame);
    return frame;
  }
}

/** tRPC's tracked payload `{ id, data }` (checked without allocating: this runs per subscriber per event). */
function isTrackedData(value: unknown): value is { id: string; data: object } {
  if (typeof value !== "object" || value === null || !("id" in value) || !("data" in value)) return false;
  const { id, data } = value;
  if (typeof id !== "string" || typeof data !== "object" || data === null) return false;
  // Exactly those two keys (anything else goes through plain superjson).
  for (const key in value) if (key !== "id" && key !== "data") return false;
  return true;
}

export const wireTransformer: CombinedDataTransformer = {
  // Inputs are decoded within bounds (auth/input-bounds.ts): superjson's own decoder lets a small request build a huge graph.
  input: { serialize: (value: unknown): unknown => superjson.serialize(value), deserialize: decodeInput },
  output: {
    serialize(value: unknown): unknown {
      if (!isTrackedData(value)) return superjson.serialize(value);
      // A lane probe reaches the encoder as it is; a flat event skips superjson's walk.
      return value.data instanceof LaneProbe ? value.data : encodeTracked(value.id, value.data);
    },
    deserialize: (value: unknown): unknown => superjson.deserialize<unknown>(value as Parameters<typeof superjson.deserialize>[0]),
  },
};

function isDataMessage(message: unknown): message is { id: unknown; jsonrpc?: unknown; result: { type: "data"; data: unknown } } {
  if (typeof message !== "object" || message === null || !("result" in message)) return false;
  const result = message.result;
  return typeof result === "object" && result !== null && "data" in result;
}

/** The WebSocket encoder: JSON, and a lane probe binds its lane instead of being sent. */
export const wireEncoder: Encoder = {
  encode(message: unknown): string {
    if (isDataMessage(message) && message.result.data instanceof LaneProbe) {
      message.result.data.lane.bind(message.id, message.jsonrpc);
      return ATTACH_ONLY;
    }
    return JSON.stringify(message);
  },
  decode(data: string | ArrayBuffer | Uint8Array): unknown {
    if (typeof data !== "string") throw new Error("Parley speaks JSON in text frames");
    return JSON.parse(data);
  },
};
