// HTTP plumbing shared by the network providers: fetch with readable
// connection errors, and a body reader that fails a stalled stream.
import { ProviderError } from "./provider";

/** POST JSON; connection failures and non-2xx answers become ProviderError. Aborts propagate as-is. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  signal: AbortSignal,
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
    throw new ProviderError(`cannot reach ${new URL(url).origin}: ${describeFetchError(error)}`);
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    throw new ProviderError(`HTTP ${response.status} from ${new URL(url).origin}: ${summarise(text) || response.statusText}`);
  }
  if (!response.body) throw new ProviderError(`empty response body from ${new URL(url).origin}`);
  return response;
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    const cause: unknown = error.cause;
    if (cause && typeof cause === "object" && "code" in cause && typeof cause.code === "string") return cause.code;
    return error.message;
  }
  return String(error);
}

/** A short, single-line excerpt of an error body (providers often answer JSON `{ error: { message } }`). */
export function summarise(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && "error" in parsed) {
      const err: unknown = parsed.error;
      if (typeof err === "string") return err.slice(0, 300);
      if (err && typeof err === "object" && "message" in err && typeof err.message === "string") return err.message.slice(0, 300);
    }
  } catch {
    // not JSON: use the text
  }
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
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
