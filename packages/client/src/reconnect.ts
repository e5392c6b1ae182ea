// When the SDK's WebSocket tries again after losing its server. Two parts:
// - the schedule: exponential backoff with full jitter (each wait is a random
//   time between 0 and the attempt's ceiling) and a low cap, so clients that
//   lost one server together spread their attempts instead of retrying in
//   lockstep;
// - the gate: tRPC's wsClient awaits its `url` before each attempt, and the
//   gate holds that attempt for the scheduled wait, or less: while it waits
//   it probes `/api/health`, and the first answer after the server was seen
//   unreachable ends the wait after a short random spread. A restarted server
//   is found within one probe period of listening, whatever the backoff had
//   grown to, and its returning clients arrive spread over that period.
// Contract: a wait never ends early on a probe twice in a row without a
// successful connection in between (a server that answers HTTP but keeps
// refusing WebSockets gets the plain schedule), nor when the server refused
// the upgrade itself (its Retry-After is the wait).

/** Ceiling of attempt 0's wait; each later attempt doubles it, up to the cap. */
export const RETRY_BASE_MS = 250;
/** Largest wait between two attempts (the probe usually ends a long one earlier). */
export const RETRY_CAP_MS = 4_000;
/** How often a waiting client probes `/api/health`: about one probe per this period, jittered. */
export const PROBE_PERIOD_MS = 500;
/** After a probe's first answer, the attempt starts within this random spread (no herd on a restart). */
const PROBE_SPREAD_MS = 300;
/** A probe that has no answer within this long counts as "not reachable". */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * Full jitter: attempt N (0-based) waits a random time in
 * [0, min(RETRY_CAP_MS, RETRY_BASE_MS · 2^N)]. The SDK's and the web UI's
 * default `retryDelayMs`.
 */
export function fullJitterRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

export interface ReconnectGateOptions {
  /** The server's health URL (`<base>/api/health`): any HTTP answer means it is back. */
  healthUrl: string;
  /** Ends every wait at once (the client closed): the attempt is abandoned. */
  signal: AbortSignal;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** Holds each reconnect attempt for its scheduled wait, cut short by a probe that finds the server back. */
export class ReconnectGate {
  private pending: { delayMs: number; probe: boolean } | null = null;
  /** The last wait ended early on a probe and no connection opened since. */
  private endedOnProbe = false;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ReconnectGateOptions) {
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /**
   * The next attempt waits `delayMs`; with `probe`, the wait may end early
   * when the server answers again (not after a refused upgrade: it named its wait).
   */
  arm(delayMs: number, probe: boolean): void {
    this.pending = { delayMs, probe: probe && !this.endedOnProbe };
  }

  /** A connection opened: the next loss starts afresh. */
  connected(): void {
    this.endedOnProbe = false;
  }

  /** Before an attempt (tRPC awaits its `url`): resolves when it may start; rejects once the client closed. */
  async wait(): Promise<void> {
    const { signal } = this.options;
    const pending = this.pending;
    this.pending = null;
    if (signal.aborted) throw abortError();
    if (!pending || pending.delayMs <= 0) return;
    const started = Date.now();
    const deadline = started + pending.delayMs;
    // Not worth probing: the wait is shorter than a probe period.
    if (!pending.probe || pending.delayMs < PROBE_PERIOD_MS) {
      await sleep(pending.delayMs, signal);
      this.endedOnProbe = false;
      return;
    }
    // The attempt before failed without reaching the server: the first answer is a return.
    let sawDown = true;
    for (;;) {
      const next = Math.min(deadline, Date.now() + PROBE_PERIOD_MS * (0.5 + Math.random()));
      await sleep(next - Date.now(), signal);
      if (Date.now() >= deadline) break;
      const answered = await this.probe();
      if (answered && sawDown) {
        await sleep(Math.min(Math.random() * PROBE_SPREAD_MS, deadline - Date.now()), signal);
        this.endedOnProbe = Date.now() < deadline;
        return;
      }
      sawDown = !answered;
    }
    this.endedOnProbe = false;
  }

  /** True when the server answered HTTP at all (any status: it is listening). */
  private async probe(): Promise<boolean> {
    const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    try {
      const response = await this.fetch(this.options.healthUrl, { cache: "no-store", signal: AbortSignal.any([timeout, this.options.signal]) });
      await response.body?.cancel();
      return true;
    } catch {
      return false;
    }
  }
}

function abortError(): Error {
  return new DOMException("the client was closed", "AbortError");
}

/** `ms` later, or at once with an AbortError when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
