// The SDK's connection state: one small observable that reports what the
// client's transport is doing, in words an app can show ("reconnecting in 2 s").
// It is fed by tRPC's wsClient.connectionState and by the reconnect delays the
// wsClient asks for, so `reconnecting` can say when the next attempt happens.
import type { TRPCLink, TRPCWebSocketClient } from "@trpc/client";
import type { AnyTRPCRouter } from "@trpc/server";
import { observable } from "@trpc/server/observable";
import type { ReconnectGate } from "./reconnect";
import type { UpgradeRefusal, UpgradeRefusalCode, UpgradeRefusals } from "./refusals";

/**
 * - `connecting`: opening the first connection;
 * - `open`: connected (WS: the socket is open; SSE: a stream is open);
 * - `reconnecting`: the connection was lost; `attempt` counts tries since it was lost,
 *   the next try starts at `nextRetryAt` (ms since epoch), `delayMs` after it was scheduled;
 * - `refused`: the server answered the upgrade with a refusal (Node only: browsers do not
 *   tell). TOO_MANY_REQUESTS (its per-address limit): the next try waits at least
 *   `retryAfterMs`, at `nextRetryAt`. UNAUTHORIZED, FORBIDDEN, NOT_FOUND: trying again
 *   cannot help, so the running subscriptions end with that error and nothing retries
 *   (`nextRetryAt` null) until a new subscription starts;
 * - `closed`: no connection. `idle` means nothing needs one (the WebSocket opens lazily
 *   with the first subscription); after `close()` it is false and stays so.
 */
export type ConnectionState =
  | { state: "connecting" }
  | { state: "open" }
  | { state: "reconnecting"; attempt: number; delayMs: number; nextRetryAt: number; error: string | null }
  | { state: "refused"; code: UpgradeRefusalCode; status: number; message: string; attempt: number; retryAfterMs: number | null; nextRetryAt: number | null }
  | { state: "closed"; idle: boolean };

export type ConnectionStateListener = (state: ConnectionState) => void;

/** An observable value: read `current`, or `subscribe` to every change (called at once with the current value). */
export interface ConnectionStateObservable {
  readonly current: ConnectionState;
  subscribe(listener: ConnectionStateListener): () => void;
}

/** Holds the state and its listeners; the client feeds it, apps read it through ConnectionStateObservable. */
export class ConnectionStateSource implements ConnectionStateObservable {
  private value: ConnectionState;
  private readonly listeners = new Set<ConnectionStateListener>();
  private ended = false;

  constructor(initial: ConnectionState) {
    this.value = initial;
  }

  get current(): ConnectionState {
    return this.value;
  }

  subscribe(listener: ConnectionStateListener): () => void {
    this.listeners.add(listener);
    listener(this.value);
    return () => {
      this.listeners.delete(listener);
    };
  }

  set(next: ConnectionState): void {
    if (this.ended || sameState(this.value, next)) return;
    this.value = next;
    for (const listener of [...this.listeners]) {
      try {
        listener(next);
      } catch (error) {
        // One faulty listener must not starve the others.
        console.error("parley: connectionState listener threw", error);
      }
    }
  }

  /** Final state after `close()`: later transport events are ignored. */
  end(): void {
    this.set({ state: "closed", idle: false });
    this.ended = true;
    this.listeners.clear();
  }
}

function sameState(a: ConnectionState, b: ConnectionState): boolean {
  if (a.state !== b.state) return false;
  if (a.state === "reconnecting" && b.state === "reconnecting") return a.attempt === b.attempt && a.nextRetryAt === b.nextRetryAt;
  if (a.state === "refused" && b.state === "refused") return a.code === b.code && a.attempt === b.attempt && a.nextRetryAt === b.nextRetryAt;
  if (a.state === "closed" && b.state === "closed") return a.idle === b.idle;
  return true;
}

/**
 * Wraps the wsClient's `retryDelayMs` so each scheduled reconnect is reported
 * with its delay. tRPC calls it right after it marks the connection lost
 * (connectionState `connecting` with an error), once per attempt. When the
 * server refused the upgrade (`refusals`), the delay is at least its
 * Retry-After and the state says `refused`; a final refusal goes to `onFinal`
 * (which ends the subscriptions and stops the client). With a `gate`
 * (reconnect.ts), the delay is the gate's to wait (tRPC is told 0).
 */
export function reportingRetryDelay(
  source: ConnectionStateSource,
  retryDelayMs: (attempt: number) => number,
  lastError: () => string | null,
  refusals?: { take: UpgradeRefusals["take"]; onFinal: (refusal: UpgradeRefusal) => void },
  gate?: Pick<ReconnectGate, "arm">,
): (attempt: number) => number {
  return (attempt) => {
    const refusal = refusals?.take() ?? null;
    const delayMs = Math.max(retryDelayMs(attempt), refusal?.retryAfterMs ?? 0);
    if (refusal) {
      const { code, status, message, retryAfterMs, transient } = refusal;
      source.set({ state: "refused", code, status, message, retryAfterMs, attempt: attempt + 1, nextRetryAt: transient ? Date.now() + delayMs : null });
      if (!transient) refusals?.onFinal(refusal);
    } else {
      source.set({ state: "reconnecting", attempt: attempt + 1, delayMs, nextRetryAt: Date.now() + delayMs, error: lastError() });
    }
    if (!gate) return delayMs;
    gate.arm(delayMs, refusal === null);
    return 0;
  };
}

/** A final refusal (nothing retries): the state stays as it is until something needs a connection again. */
const isFinalRefusal = (state: ConnectionState) => state.state === "refused" && state.nextRetryAt === null;

/** Follows tRPC's wsClient.connectionState (idle | connecting | pending, with the error of a lost connection); `onOpen` on each connection. */
export function followWsClient(
  source: ConnectionStateSource,
  wsClient: TRPCWebSocketClient,
  onError: (message: string | null) => void,
  onOpen: () => void = () => undefined,
): () => void {
  const subscription = wsClient.connectionState.subscribe({
    next: (s) => {
      if (s.state === "pending") {
        onOpen();
        onError(null);
        source.set({ state: "open" });
      } else if (s.state === "idle") {
        if (!isFinalRefusal(source.current)) source.set({ state: "closed", idle: true });
      } else if (s.error) {
        // Lost. tRPC calls the retry-delay hook synchronously right after this
        // (reportingRetryDelay reports attempt and delay); if it does not (a
        // retry is already scheduled), say "reconnecting" without a delay.
        const message = s.error.message;
        onError(message);
        queueMicrotask(() => {
          if (source.current.state !== "reconnecting" && source.current.state !== "refused") {
            source.set({ state: "reconnecting", attempt: 1, delayMs: 0, nextRetryAt: Date.now(), error: message });
          }
        });
      } else {
        // Opening without a lost connection: the first time, or again after a lazy close.
        source.set({ state: "connecting" });
      }
    },
  });
  return () => subscription.unsubscribe();
}

/**
 * A pass-through link for the SSE transport, which has no socket to watch:
 * each SSE subscription reports its own state (tRPC `state` results), and the
 * client's state is the worst of them: reconnecting if any is, connecting if
 * any is, open if all are, closed (idle) when none runs.
 */
export function sseConnectionStateLink<TRouter extends AnyTRPCRouter>(
  source: ConnectionStateSource,
  retryDelayMs: (attempt: number) => number,
): TRPCLink<TRouter> {
  const states = new Map<number, { state: "connecting" | "open" | "reconnecting"; error: string | null; attempt: number }>();
  const recompute = () => {
    const all = [...states.values()];
    const lost = all.find((s) => s.state === "reconnecting");
    if (lost) {
      // EventSource retries on its own schedule; the client's retryDelayMs is the best estimate we have.
      const delayMs = retryDelayMs(lost.attempt - 1);
      source.set({ state: "reconnecting", attempt: lost.attempt, delayMs, nextRetryAt: Date.now() + delayMs, error: lost.error });
    } else if (all.some((s) => s.state === "connecting")) source.set({ state: "connecting" });
    else if (all.length > 0) source.set({ state: "open" });
    else source.set({ state: "closed", idle: true });
  };
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        if (op.type !== "subscription") return next(op).subscribe(observer);
        states.set(op.id, { state: "connecting", error: null, attempt: 0 });
        recompute();
        const subscription = next(op).subscribe({
          next(envelope) {
            const result = envelope.result;
            if ("type" in result && result.type === "state") {
              const previous = states.get(op.id);
              if (result.state === "pending") states.set(op.id, { state: "open", error: null, attempt: 0 });
              else if (result.state === "connecting" && result.error) {
                states.set(op.id, { state: "reconnecting", error: result.error.message, attempt: (previous?.attempt ?? 0) + 1 });
              } else if (result.state === "idle") states.delete(op.id);
              recompute();
            }
            observer.next(envelope);
          },
          error(error) {
            states.delete(op.id);
            recompute();
            observer.error(error);
          },
          complete() {
            states.delete(op.id);
            recompute();
            observer.complete();
          },
        });
        return () => {
          states.delete(op.id);
          recompute();
          subscription.unsubscribe();
        };
      });
}
