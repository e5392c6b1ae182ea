// Encode once, send to many. tRPC serialises every subscription message per
// subscriber (superjson, then JSON.stringify), so fanning one event out to N
// subscribers costs N encodings. Here the transformer remembers the encoded
// form of each tracked event object (the bus hands every subscriber the same
// object), and the WebSocket encoder splices those cached bytes into each
// subscriber's envelope. The bytes on the wire are exactly what stock tRPC
// with superjson sends (tests/wire.test.ts), so every tRPC client decodes them.
import type { CombinedDataTransformer } from "@trpc/server";
import type { Encoder } from "@trpc/server/adapters/ws";
import superjson from "superjson";

/** A value already serialised by superjson, with its JSON text. `toJSON` keeps HTTP/SSE responses correct. */
export class PreparedJson {
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

export const wireTransformer: CombinedDataTransformer = {
  input: superjson,
  output: {
    serialize(value: unknown): unknown {
      if (!isTrackedData(value)) return superjson.serialize(value);
      const hit = cache.get(value.data);
      if (hit && hit.id === value.id) return hit.prepared;
      const serialized = superjson.serialize(value);
      const prepared = new PreparedJson(serialized, JSON.stringify(serialized));
      cache.set(value.data, { id: value.id, prepared });
      return prepared;
    },
    deserialize: (value: unknown): unknown => superjson.deserialize<unknown>(value as Parameters<typeof superjson.deserialize>[0]),
  },
};

interface DataMessage {
  id: unknown;
  jsonrpc?: unknown;
  result: { type: "data"; data: PreparedJson; id?: unknown };
}

function isPreparedDataMessage(message: unknown): message is DataMessage {
  if (typeof message !== "object" || message === null || !("result" in message)) return false;
  const result = (message).result;
  return typeof result === "object" && result !== null && (result as { data?: unknown }).data instanceof PreparedJson;
}

/** The WebSocket encoder: JSON, with cached event bytes spliced in (same key order as JSON.stringify). */
export const wireEncoder: Encoder = {
  encode(message: unknown): string {
    if (!isPreparedDataMessage(message)) return JSON.stringify(message);
    const { id, jsonrpc, result } = message;
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
