// Encode once, send to many. tRPC serialises every subscription message per
// subscriber (superjson, then JSON.stringify), so fanning one event out to N
// subscribers costs N encodings. Here the transformer remembers the encoded
// form of each tracked event object (the bus hands every subscriber the same
// object), and the WebSocket encoder splices those cached bytes into each
// subscriber's envelope. The bytes on the wire are exactly what stock tRPC
// with superjson sends (tests/wire.test.ts), so every tRPC client decodes them.
//
// Direct fan-out: a caught-up session stream on a WebSocket learns its tRPC
// subscription id once (SubscriptionLane), then its live events are written
// straight to the TCP socket as complete WebSocket frames (header and
// payload), built once per event and subscription id, instead of passing
// through the stream's generator, tRPC's per-subscription loop and `ws`'s
// per-socket framing (see services/session-events.ts and connections.ts).
import type { CombinedDataTransformer } from "@trpc/server";
import type { Encoder } from "@trpc/server/adapters/ws";
import superjson, { type SuperJSONResult } from "superjson";
import { decodeInput } from "./auth/input-bounds";

/** A value already serialised by superjson, with its JSON text. `toJSON` keeps HTTP/SSE responses correct. */
export class PreparedJson {
  /** Complete WebSocket frames carrying this value, by frame prefix (SubscriptionLane). */
  frames: Map<string, Buffer> | undefined;

  constructor(
    readonly value: unknown,
    readonly json: string,
  ) {}
  toJSON(): unknown {
    return this.value;
  }
}

interface TrackedData {
  id: string;
  data: object;
}

/** tRPC's tracked payload `{ id, data }` (checked without allocating: this runs per subscriber per event). */
function isTrackedData(value: unknown): value is TrackedData {
  if (typeof value !== "object" || value === null || !("id" in value) || !("data" in value)) return false;
  const { id, data } = value;
  if (typeof id !== "string" || typeof data !== "object" || data === null) return false;
  // Exactly those two keys (anything else goes through plain superjson).
  for (const key in value) if (key !== "id" && key !== "data") return false;
  return true;
}

/** Per event object: the last tracked id it was sent with, and the encoding. */
const cache = new WeakMap<object, { id: string; prepared: PreparedJson }>();

/** Event objects whose superjson encoding was made where they were written (see rememberEncoding). */
const encodings = new WeakMap<object, SuperJSONResult>();

/**
 * Record `data`'s superjson encoding, made anyway to persist it (the message
 * writer), so its frames are built from it rather than by encoding again.
 */
export function rememberEncoding(data: object, encoded: SuperJSONResult): void {
  encodings.set(data, encoded);
}

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

/** The encoding of tracked `{ id, data }`, made once per event object and id. */
function prepareTracked(id: string, data: object): PreparedJson {
  const hit = cache.get(data);
  if (hit && hit.id === id) return hit.prepared;
  const encoded = encodings.get(data);
  let prepared = encoded && preparedFromStored(id, encoded);
  if (!prepared) {
    // A flat event (a chat delta) is its own encoding: superjson's walk would allocate kilobytes to find no meta.
    const serialized = isFlatJson(data) ? { json: { id, data } } : superjson.serialize({ id, data });
    prepared = new PreparedJson(serialized, JSON.stringify(serialized));
  }
  cache.set(data, { id, prepared });
  return prepared;
}

/**
 * What superjson gives for tracked `{ id, data }`, built from `data`'s own
 * encoding: `data`'s JSON under `json.data`, its meta paths under `data.`.
 * Null when the meta holds more than plain `values` (referential
 * equalities and the like): then `data` is encoded again.
 */
function preparedFromStored(id: string, stored: SuperJSONResult): PreparedJson | null {
  const meta = trackedMeta(stored);
  if (meta === null) return null;
  const serialized: SuperJSONResult = meta === undefined ? { json: { id, data: stored.json } } : { json: { id, data: stored.json }, meta };
  return new PreparedJson(serialized, JSON.stringify(serialized));
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
 * preparedFromStored's JSON text, spliced from the stored text rather than
 * stringified again (a back-fill sends thousands). Only when `text` is
 * `JSON.stringify(stored)` as the message writer stores it; null otherwise.
 */
function trackedJsonFromText(id: string, stored: SuperJSONResult, text: string): string | null {
  const meta = trackedMeta(stored);
  if (meta === null) return null;
  const head = '{"json":';
  const tail = stored.meta === undefined ? "}" : `,"meta":${JSON.stringify(stored.meta)}}`;
  if (!text.startsWith(head) || !text.endsWith(tail) || text.length < head.length + tail.length + 2) return null;
  const data = text.slice(head.length, text.length - tail.length);
  return `{"json":{"id":${JSON.stringify(id)},"data":${data}}${meta === undefined ? "" : `,"meta":${JSON.stringify(meta)}`}}`;
}

/**
 * `text` as one complete WebSocket text frame from a server: FIN, opcode 1,
 * no mask, no compression (RFC 6455 §5.2), the bytes `ws` writes for
 * `send(text)` (as header and payload), here in one buffer. The frame is the
 * same for every subscriber, so the direct path builds it once and writes it
 * to each socket as it is.
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

/** Probe event objects of lanes that have not learnt their subscription id yet. */
const probes = new WeakMap<object, SubscriptionLane>();

/** What the encoder returns for a probe: nothing is sent (ConnectionRegistry skips it). */
export const NO_FRAME = "";

/** Distinct subscription ids whose frames one event keeps (beyond it frames are built per send). */
const FRAMES_PER_EVENT = 16;

/**
 * How one WebSocket subscription's live events reach its socket directly. The
 * stream yields `tracked(id, probe)` once through tRPC; the encoder sees the
 * probe with the subscription's JSON-RPC id, binds the lane, and sends
 * nothing. From then on `frame()` builds exactly the frame tRPC would have
 * sent for a tracked event, shared by every subscription with the same id.
 */
export class SubscriptionLane {
  private prefix: string | null = null;

  /** `probe`: a fresh event object of the stream's own type, used only to bind this lane. */
  constructor(readonly probe: object) {
    probes.set(probe, this);
  }

  get bound(): boolean {
    return this.prefix !== null;
  }

  private boundPrefix(): string {
    if (this.prefix === null) throw new Error("SubscriptionLane frame before bind");
    return this.prefix;
  }

  bind(subscriptionId: unknown, jsonrpc: unknown): void {
    let prefix = `{"id":${JSON.stringify(subscriptionId)}`;
    if (jsonrpc !== undefined) prefix += `,"jsonrpc":${JSON.stringify(jsonrpc)}`;
    this.prefix = `${prefix},"result":{"type":"data","data":`;
    probes.delete(this.probe);
  }

  /**
   * The frame tRPC sends for `tracked(id, data)` on this subscription, built
   * from `data`'s superjson encoding as it was persisted (back-fill), and
   * `storedText`, its stored JSON text when the database gives it as text.
   * Null when the encoding cannot be reused (then use `frame`).
   */
  frameFromStored(id: string, stored: SuperJSONResult, storedText?: string): Buffer | null {
    // A stored encoding is one subscriber's own copy: nothing to share.
    const json = (storedText !== undefined && trackedJsonFromText(id, stored, storedText)) || preparedFromStored(id, stored)?.json;
    return json ? textFrame(`${this.boundPrefix()}${json},"id":${JSON.stringify(id)}}}`) : null;
  }

  /** The frame tRPC sends for `tracked(id, data)` on this subscription (wireEncoder's text, framed as `ws` frames it). */
  frame(id: string, data: object): Buffer {
    const prefix = this.boundPrefix();
    const prepared = prepareTracked(id, data);
    const hit = prepared.frames?.get(prefix);
    if (hit) return hit;
    const frame = textFrame(`${prefix}${prepared.json},"id":${JSON.stringify(id)}}}`);
    prepared.frames ??= new Map();
    if (prepared.frames.size < FRAMES_PER_EVENT) prepared.frames.set(prefix, frame);
    return frame;
  }
}

export const wireTransformer: CombinedDataTransformer = {
  // Inputs are decoded within bounds (auth/input-bounds.ts): superjson's own decoder lets a small request build a huge graph.
  input: { serialize: (value: unknown): unknown => superjson.serialize(value), deserialize: decodeInput },
  output: {
    serialize(value: unknown): unknown {
      if (!isTrackedData(value)) return superjson.serialize(value);
      const hit = cache.get(value.data);
      if (hit && hit.id === value.id) return hit.prepared;
      return probes.get(value.data) ?? prepareTracked(value.id, value.data);
    },
    deserialize: (value: unknown): unknown => superjson.deserialize<unknown>(value as Parameters<typeof superjson.deserialize>[0]),
  },
};

interface DataMessage {
  id: unknown;
  jsonrpc?: unknown;
  result: { type: "data"; data: unknown; id?: unknown };
}

function isDataMessage(message: unknown): message is DataMessage {
  if (typeof message !== "object" || message === null || !("result" in message)) return false;
  const result = message.result;
  return typeof result === "object" && result !== null && "data" in result;
}

/** The WebSocket encoder: JSON, with cached event bytes spliced in (same key order as JSON.stringify). */
export const wireEncoder: Encoder = {
  encode(message: unknown): string {
    if (!isDataMessage(message)) return JSON.stringify(message);
    const { id, jsonrpc, result } = message;
    if (result.data instanceof SubscriptionLane) {
      result.data.bind(id, jsonrpc);
      return NO_FRAME;
    }
    if (!(result.data instanceof PreparedJson)) return JSON.stringify(message);
    let out = `{"id":${JSON.stringify(id)}`;
    if (jsonrpc !== undefined) out += `,"jsonrpc":${JSON.stringify(jsonrpc)}`;
    out += `,"result":{"type":"data","data":${result.data.json}`;
    if (result.id !== undefined) out += `,"id":${JSON.stringify(result.id)}`;
    return `${out}}}`;
  },
  decode(data: string | ArrayBuffer | Uint8Array): unknown {
    if (typeof data !== "string") throw new Error("Parley speaks JSON in text frames");
    return JSON.parse(data);
  },
};
