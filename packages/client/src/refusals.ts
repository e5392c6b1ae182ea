// Upgrades the server refuses, as typed refusals instead of a silent
// reconnect loop. The server answers a WebSocket upgrade it will not take
// with an HTTP status: 429 (MAX_CONNECTIONS_PER_ADDRESS, with Retry-After),
// 403 (an Origin not allowed), 421 (a host name it does not answer), 401.
// In Node the SDK's WebSocket (`ws`) reads that status; the client then waits
// at least the Retry-After before trying again (connection state `refused`,
// code TOO_MANY_REQUESTS), or, for a refusal that trying again cannot change,
// ends the running subscriptions with UNAUTHORIZED / FORBIDDEN / NOT_FOUND and
// stops reconnecting. Browsers do not expose the status of a refused upgrade.
import type { IncomingMessage } from "node:http";
import { TRPCClientError, type TRPCLink } from "@trpc/client";
import type { AnyTRPCRouter } from "@trpc/server";
import { observable } from "@trpc/server/observable";
import NodeWebSocket from "ws";

export type UpgradeRefusalCode = "TOO_MANY_REQUESTS" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND";

export interface UpgradeRefusal {
  code: UpgradeRefusalCode;
  /** The HTTP status the server answered the upgrade with. */
  status: number;
  /** TOO_MANY_REQUESTS: how long the server asked to wait (Retry-After); null otherwise. */
  retryAfterMs: number | null;
  /** False when trying again cannot help (UNAUTHORIZED, FORBIDDEN, NOT_FOUND): the subscriptions end. */
  transient: boolean;
  message: string;
}

/** The wait a 429 without a usable Retry-After gets (the server's SLOT_RETRY_AFTER_MS). */
const DEFAULT_RETRY_AFTER_MS = 1_000;

/** Retry-After as seconds or an HTTP date, in ms; null when absent or unreadable. */
function retryAfterMs(header: string | string[] | undefined): number | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1_000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

/** @internal What an upgrade answered with `status` means; null for statuses worth retrying as they are (5xx, proxies). */
export function upgradeRefusal(status: number, headers: IncomingMessage["headers"] = {}): UpgradeRefusal | null {
  switch (status) {
    case 429: {
      const wait = retryAfterMs(headers["retry-after"]) ?? DEFAULT_RETRY_AFTER_MS;
      return {
        code: "TOO_MANY_REQUESTS",
        status,
        retryAfterMs: wait,
        transient: true,
        message: `the server refused the WebSocket: too many connections from this address (HTTP 429); retrying after ${wait} ms`,
      };
    }
    case 401:
      return { code: "UNAUTHORIZED", status, retryAfterMs: null, transient: false, message: "the server refused the WebSocket: not authenticated (HTTP 401)" };
    case 403:
      return { code: "FORBIDDEN", status, retryAfterMs: null, transient: false, message: "the server refused the WebSocket: this origin is not allowed (HTTP 403, PARLEY_ALLOWED_ORIGINS)" };
    case 421:
      return {
        code: "FORBIDDEN",
        status,
        retryAfterMs: null,
        transient: false,
        message: "the server refused the WebSocket: it does not answer to this host name (HTTP 421; use its PUBLIC_URL or a name in PARLEY_ALLOWED_HOSTS)",
      };
    case 404:
      return { code: "NOT_FOUND", status, retryAfterMs: null, transient: false, message: "the server has no WebSocket endpoint at this URL (HTTP 404)" };
    default:
      return null;
  }
}

/** The error a subscription ends with when its upgrade is refused for good (a tRPC error with `data.code`). */
export function refusalError(refusal: UpgradeRefusal): TRPCClientError<AnyTRPCRouter> {
  return TRPCClientError.from<AnyTRPCRouter>({
    error: { code: -32_001, message: refusal.message, data: { code: refusal.code, httpStatus: refusal.status } },
  });
}

/**
 * @internal
 * The refusals of one client's upgrades: the WebSocket class records them,
 * the reconnect delay takes the latest (connection-state.ts), and the link
 * ends the running subscriptions when one is final.
 */
export class UpgradeRefusals {
  private latest: UpgradeRefusal | null = null;
  private readonly running = new Set<(error: TRPCClientError<AnyTRPCRouter>) => void>();

  record(refusal: UpgradeRefusal): void {
    this.latest = refusal;
  }

  /** The refusal of the attempt that just failed, once; null when it failed otherwise (no answer, a 5xx). */
  take(): UpgradeRefusal | null {
    const refusal = this.latest;
    this.latest = null;
    return refusal;
  }

  /** Ends every running subscription with the refusal's error. */
  endSubscriptions(refusal: UpgradeRefusal): void {
    const error = refusalError(refusal);
    for (const end of [...this.running]) end(error);
  }

  /** A link before the WebSocket link: it knows the running subscriptions, so a final refusal can end them. */
  link<TRouter extends AnyTRPCRouter>(): TRPCLink<TRouter> {
    return () =>
      ({ op, next }) =>
        observable((observer) => {
          if (op.type !== "subscription") return next(op).subscribe(observer);
          let ended = false;
          /** Once: whichever of the server, the caller or a refusal ends the subscription first. */
          const finish = () => {
            if (ended) return false;
            ended = true;
            this.running.delete(refuse);
            return true;
          };
          const refuse = (error: TRPCClientError<AnyTRPCRouter>) => {
            if (!finish()) return;
            inner.unsubscribe();
            observer.error(error);
          };
          this.running.add(refuse);
          const inner = next(op).subscribe({
            next: (value) => observer.next(value),
            error: (error) => {
              if (finish()) observer.error(error);
            },
            complete: () => {
              if (finish()) observer.complete();
            },
          });
          return () => {
            finish();
            inner.unsubscribe();
          };
        });
  }

  /**
   * `ws`'s WebSocket, for Node, recording the refusal of a failed upgrade:
   * the status and Retry-After that `ws` would otherwise drop into an error
   * message. The upgrade then fails as before ('error', then 'close').
   */
  nodeWebSocket(): new (address: string | URL, protocols?: string | string[]) => NodeWebSocket {
    const record = (refusal: UpgradeRefusal) => this.record(refusal);
    return class RefusalRecordingWebSocket extends NodeWebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols);
        this.on("unexpected-response", (req, res) => {
          const refusal = upgradeRefusal(res.statusCode ?? 0, res.headers);
          if (refusal) record(refusal);
          res.resume();
          req.destroy(new Error(`Unexpected server response: ${res.statusCode ?? 0}`));
        });
      }
    };
  }
}
