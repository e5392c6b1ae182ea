// HTTP plumbing shared by the network providers: fetch with readable
// connection errors, and a body reader that fails a stalled stream. Error
// texts name "the provider", never its URL (agent.providers promises to hide
// it), and quote its words only through a SecretRedactor.
import { ProviderError } from "./provider";
import type { SecretRedactor } from "./secrets";

/** Longest excerpt of a provider's error body kept in an error. */
export const ERROR_EXCERPT_CHARS = 300;

/** POST JSON; connection failures and non-2xx answers become ProviderError. Aborts propagate as-is. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  signal: AbortSignal,
  secrets: SecretRedactor,
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new ProviderError(`cannot reach the provider: ${secrets.redact(describeFetchError(error))}`);
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    throw new ProviderError(`HTTP ${response.status} from the provider: ${summarise(text, secrets) || response.statusText}`);
  }
  if (!response.body) throw new ProviderError("empty response body from the provider");
  return response;
}

/** Why a fetch failed, in a word when the socket says (ECONNREFUSED), else its message. */
export function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    const cause: unknown = error.cause;
    if (cause && typeof cause === "object" && "code" in cause && typeof cause.code === "string") return cause.code;
    return error.message;
  }
  return String(error);
}

/**
 * A short, single-line excerpt of an error body (providers often answer JSON
 * `{ error: { message } }`), secrets redacted before it is cut.
 */
export function summarise(text: string, secrets: SecretRedactor): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && "error" in parsed) {
      const err: unknown = parsed.error;
      if (typeof err === "string") return secrets.excerpt(err, ERROR_EXCERPT_CHARS);
      if (err && typeof err === "object" && "message" in err && typeof err.message === "string") return secrets.excerpt(err.message, ERROR_EXCERPT_CHARS);
    }
  } catch {
    // not JSON: use the text
  }
  return secrets.excerpt(text, ERROR_EXCERPT_CHARS);
}

/**
 * The body as decoded text chunks. If nothing arrives for `stallMs`, the
 * upstream request is aborted (through `abortUpstream`) and a ProviderError
 * "stalled" is thrown.
 */
export async function* readText(
  response: Response,
  stallMs: number,
  signal: AbortSignal,
  abortUpstream: (reason: Error) => void,
): AsyncGenerator<string> {
  const body = response.body;
  if (!body) return;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let finished = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<"stalled">((resolve) => {
        timer = setTimeout(() => resolve("stalled"), stallMs);
      });
      let next: ReadableStreamReadResult<Uint8Array> | "stalled";
      try {
        next = await Promise.race([reader.read(), stalled]);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw new ProviderError(`connection lost while streaming: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
      if (next === "stalled") {
        const error = new ProviderError(`stalled: no data from the provider for ${stallMs} ms (CHAT_STALL_TIMEOUT_MS)`);
        abortUpstream(error);
        throw error;
      }
      if (next.done) {
        finished = true;
        const rest = decoder.decode();
        if (rest) yield rest;
        return;
      }
      yield decoder.decode(next.value, { stream: true });
    }
  } finally {
    // Leaving early (stall, abort, consumer gone) must close the connection.
    if (!finished) reader.cancel().catch(() => undefined);
    else reader.releaseLock();
  }
}

/** An AbortController that also follows `parent`; `abort` closes the upstream request only. */
export function linkedController(parent: AbortSignal): AbortController {
  const controller = new AbortController();
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", () => controller.abort(parent.reason), { once: true });
  return controller;
}
