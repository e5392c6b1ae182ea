// What went wrong with a call, in the few kinds an app (or the CLI's exit
// code) acts on differently: retry later, fix the token, fix the input, give up.
import { TRPCClientError } from "@trpc/client";

export type ParleyFailureKind =
  /** The server could not be reached (refused, DNS, reset before an answer). */
  | "unreachable"
  /** No token, or a token that is invalid, expired or revoked (UNAUTHORIZED). */
  | "unauthorized"
  /** The token works but may not do this (FORBIDDEN). */
  | "forbidden"
  | "not_found"
  /** The input was refused (BAD_REQUEST, PAYLOAD_TOO_LARGE, PARSE_ERROR). */
  | "bad_input"
  /** Try again later (TOO_MANY_REQUESTS, CONFLICT with a running answer, timeouts). */
  | "busy"
  | "other";

export interface ParleyFailure {
  kind: ParleyFailureKind;
  /** The tRPC error code when the server answered (e.g. "NOT_FOUND"). */
  code: string | null;
  message: string;
}

const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT"]);

/** The first `code` found along an error's `cause` chain (Node's fetch nests the socket error). */
function causeCode(error: unknown): string | null {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== null && typeof current === "object"; depth++) {
    if ("code" in current && typeof current.code === "string") return current.code;
    current = "cause" in current ? current.cause : null;
  }
  return null;
}

function serverCode(error: unknown): string | null {
  if (!(error instanceof TRPCClientError)) return null;
  const data: unknown = error.data;
  if (data !== null && typeof data === "object" && "code" in data && typeof data.code === "string") return data.code;
  return null;
}

/** Classify any error a Parley call can throw. */
export function describeFailure(error: unknown): ParleyFailure {
  const message = error instanceof Error ? error.message : String(error);
  const code = serverCode(error);
  switch (code) {
    case "UNAUTHORIZED":
      return { kind: "unauthorized", code, message };
    case "FORBIDDEN":
      return { kind: "forbidden", code, message };
    case "NOT_FOUND":
      return { kind: "not_found", code, message };
    case "BAD_REQUEST":
    case "PAYLOAD_TOO_LARGE":
    case "PARSE_ERROR":
    case "UNPROCESSABLE_CONTENT":
      return { kind: "bad_input", code, message };
    case "TOO_MANY_REQUESTS":
    case "CONFLICT":
    case "TIMEOUT":
      return { kind: "busy", code, message };
    case null:
      break;
    default:
      return { kind: "other", code, message };
  }
  const cause = causeCode(error);
  if ((cause && networkCodes.has(cause)) || /fetch failed|ECONNREFUSED|WebSocket closed/i.test(message)) {
    return { kind: "unreachable", code: null, message: cause ? `${message} (${cause})` : message };
  }
  return { kind: "other", code: null, message };
}

/**
 * Errors a subscription helper (tail, ask) gives up on instead of resubscribing:
 * asking again cannot succeed.
 */
export function isPermanentFailure(error: unknown): boolean {
  const { kind } = describeFailure(error);
  return kind === "unauthorized" || kind === "forbidden" || kind === "not_found" || kind === "bad_input";
}
