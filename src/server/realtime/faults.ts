// Fault injection for application developers: PARLEY_FAULTS makes the server
// misbehave on purpose on WebSocket subscription data, so clients can prove
// they cope. Example: `drop=0.01,duplicate=0.01,delay=50ms,disconnectEvery=30s,seed=7`.
//   drop=P            skip a data frame with probability P (a client sees a gap in tracked ids)
//   duplicate=P       send a data frame twice with probability P
//   delay=Nms         hold every frame N ms (order is kept)
//   disconnectEvery=Ns  terminate each connection after about N s (±50 %)
//   seed=N            make the random choices repeatable
// Only messages that carry subscription data are dropped or duplicated (every
// frame the hub writes, and tRPC's own data messages); replies to queries and
// mutations are never touched. The faults sit in front of each connection's
// socket as its Outbound (connection.ts), so both ways out pass them in call
// order. Refused when NODE_ENV is production unless PARLEY_FAULTS_IN_PRODUCTION=yes.
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

/** Where a connection's bytes go (connection.ts): a text message framed by `ws`, or a complete frame for the TCP socket. */
export interface Outbound {
  text(data: string | Uint8Array): void;
  frame(frame: Buffer): void;
}

const isSubscriptionData = (data: unknown) => typeof data === "string" && data.includes('"result":{"type":"data"') && data.includes('"id":');

export class FaultInjector {
  readonly counters: FaultCounters = { dropped: 0, duplicated: 0, delayed: 0, disconnected: 0 };
  private readonly rand: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly spec: FaultSpec) {
    this.rand = random(spec.seed ?? Date.now());
  }

  /** The faulty way out of a freshly connected socket, in front of `inner`; also schedules its disconnect. */
  outbound(socket: WebSocket, inner: Outbound): Outbound {
    if (this.spec.disconnectEvery !== undefined) this.disconnectLater(socket, this.spec.disconnectEvery);
    return new FaultyOutbound(this, socket, inner);
  }

  /** Whether to drop (true), and whether to duplicate, one message of subscription data. */
  decide(): "drop" | "duplicate" | "send" {
    const { spec, counters } = this;
    if (this.rand() < spec.drop) {
      counters.dropped++;
      return "drop";
    }
    if (this.rand() < spec.duplicate) {
      counters.duplicated++;
      return "duplicate";
    }
    return "send";
  }

  /** Run `send` after the spec's delay, never before an earlier delayed send (`after`: that one's due time); returns this one's due time. */
  later(socket: WebSocket, after: number, send: () => void): number {
    const due = Math.max(Date.now() + this.spec.delay, after);
    this.counters.delayed++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (socket.readyState === socket.OPEN) send();
    }, due - Date.now());
    this.timers.add(timer);
    return due;
  }

  private disconnectLater(socket: WebSocket, everyMs: number): void {
    const after = everyMs * (0.5 + this.rand());
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.counters.disconnected++;
      socket.terminate();
    }, after);
    timer.unref();
    this.timers.add(timer);
    socket.once("close", () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    });
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/** One connection's way out through the faults: drops, duplicates and delays, order kept. */
class FaultyOutbound implements Outbound {
  private lastDue = 0;

  constructor(
    private readonly faults: FaultInjector,
    private readonly socket: WebSocket,
    private readonly inner: Outbound,
  ) {}

  text(data: string | Uint8Array): void {
    this.pass(isSubscriptionData(data), () => this.inner.text(data));
  }

  frame(frame: Buffer): void {
    this.pass(true, () => this.inner.frame(frame));
  }

  private pass(data: boolean, send: () => void): void {
    const decision = data ? this.faults.decide() : "send";
    if (decision === "drop") return;
    if (decision === "duplicate") this.deliver(send);
    this.deliver(send);
  }

  private deliver(send: () => void): void {
    if (this.faults.spec.delay <= 0) send();
    else this.lastDue = this.faults.later(this.socket, this.lastDue, send);
  }
}
