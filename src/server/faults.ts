// Fault injection for application developers: PARLEY_FAULTS makes the server
// misbehave on purpose on WebSocket subscription data, so clients can prove
// they cope. Example: `drop=0.01,duplicate=0.01,delay=50ms,disconnectEvery=30s,seed=7`.
//   drop=P            skip a data frame with probability P (a client sees a gap in tracked ids)
//   duplicate=P       send a data frame twice with probability P
//   delay=Nms         hold every frame N ms (order is kept)
//   disconnectEvery=Ns  terminate each connection after about N s (±50 %)
//   seed=N            make the random choices repeatable
// Only frames that carry subscription data are dropped or duplicated; replies
// to queries and mutations are never touched. Refused when NODE_ENV is
// production unless PARLEY_FAULTS_IN_PRODUCTION=yes.
import type { WebSocket } from "ws";
import { z } from "zod";

const probability = z.coerce.number().min(0).max(1);
const duration = (unit: "ms" | "s") =>
  z
    .string()
    .regex(new RegExp(`^\\d+(\\.\\d+)?(ms|s)?$`), `must be a duration like 50${unit}`)
    .transform((text) => {
      const value = Number.parseFloat(text);
      const given = text.endsWith("ms") ? "ms" : text.endsWith("s") ? "s" : unit;
      return given === "s" ? value * 1000 : value;
    });

const faultSpecSchema = z
  .object({
    drop: probability.default(0),
    duplicate: probability.default(0),
    delay: duration("ms").default(0),
    disconnectEvery: duration("s").optional(),
    seed: z.coerce.number().int().optional(),
  })
  .strict();

export type FaultSpec = z.infer<typeof faultSpecSchema>;

/** Parse `drop=0.01,delay=50ms,...`; throws an error naming the bad part. */
export function parseFaults(text: string): FaultSpec {
  const entries: Record<string, string> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [key, value] = part.split("=", 2);
    if (!key || value === undefined) throw new Error(`PARLEY_FAULTS: "${part}" is not key=value`);
    entries[key] = value;
  }
  const result = faultSpecSchema.safeParse(entries);
  if (!result.success) {
    throw new Error(
      `PARLEY_FAULTS: ${result.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")} (allowed: drop, duplicate, delay, disconnectEvery, seed)`,
    );
  }
  return result.data;
}

/** mulberry32: small, fast, seedable (also the benchmarks' generator). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultCounters {
  dropped: number;
  duplicated: number;
  delayed: number;
  disconnected: number;
}

const isSubscriptionData = (data: unknown) => typeof data === "string" && data.includes('"result":{"type":"data"') && data.includes('"id":');

export class FaultInjector {
  readonly counters: FaultCounters = { dropped: 0, duplicated: 0, delayed: 0, disconnected: 0 };
  private readonly rand: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly spec: FaultSpec) {
    this.rand = random(spec.seed ?? Date.now());
  }

  /** Wrap a freshly connected socket's `send` (install after any other send wrapper). */
  attach(socket: WebSocket): void {
    const { spec, counters } = this;
    const send = socket.send.bind(socket) as (data: unknown) => void;
    let lastDue = 0;
    const deliver = (data: unknown) => {
      if (spec.delay <= 0) return send(data);
      const due = Math.max(Date.now() + spec.delay, lastDue);
      lastDue = due;
      counters.delayed++;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (socket.readyState === socket.OPEN) send(data);
      }, due - Date.now());
      this.timers.add(timer);
    };
    socket.send = ((data: unknown) => {
      if (isSubscriptionData(data)) {
        if (this.rand() < spec.drop) {
          counters.dropped++;
          return;
        }
        if (this.rand() < spec.duplicate) {
          counters.duplicated++;
          deliver(data);
        }
      }
      deliver(data);
    }) as WebSocket["send"];
    if (spec.disconnectEvery !== undefined) {
      const after = spec.disconnectEvery * (0.5 + this.rand());
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        counters.disconnected++;
        socket.terminate();
      }, after);
      timer.unref();
      this.timers.add(timer);
      socket.once("close", () => {
        clearTimeout(timer);
        this.timers.delete(timer);
      });
    }
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
