// An SSE stream holds an HTTP response open as a WebSocket holds its socket,
// so it counts against the same connection limits: MAX_CONNECTIONS_PER_PRINCIPAL
// (WebSockets and SSE streams together) and MAX_CONNECTIONS_PER_ADDRESS (the
// client behind a trusted proxy). One more is refused with TOO_MANY_REQUESTS
// and a retry-after; another principal or address is unaffected; a closed
// stream gives its slots back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { makePrincipal, type TestPrincipal } from "./helpers/auth";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

/** How an SSE stream began: its first event (`ok`), or the refusal it ended with. */
type Opening = { kind: "ok" } | { kind: "refused"; code: string; retryAfterMs: number | null; message: string };

const serializedError = z.object({
  json: z.object({ message: z.string(), data: z.object({ code: z.string(), retryAfterMs: z.number().nullable() }) }),
});

interface SseStream {
  opening: Promise<Opening>;
  close: () => void;
}

/** `session.events` over SSE as an EventSource opens it (GET, text/event-stream), with extra request headers. */
function openSse(t: TestServer, sessionId: string, token: string, headers: Record<string, string> = {}): SseStream {
  const controller = new AbortController();
  const input = encodeURIComponent(JSON.stringify({ json: { sessionId } }));
  const opening = (async (): Promise<Opening> => {
    const response = await fetch(`${t.url}/api/trpc/session.events?input=${input}`, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${token}`, ...headers },
      signal: controller.signal,
    });
    const reader = response.body?.getReader();
    if (!reader) throw new Error(`no SSE body (HTTP ${response.status})`);
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before its first event: ${text}`);
      text += new TextDecoder().decode(value);
      const error = /event: serialized-error\ndata: (.*)\n/.exec(text);
      if (error?.[1]) {
        const { json } = serializedError.parse(JSON.parse(error[1]));
        return { kind: "refused", code: json.data.code, retryAfterMs: json.data.retryAfterMs, message: json.message };
      }
      // The session's first message, back-filled: the stream is open and delivering.
      if (/\nid: 1\n/.test(text)) return { kind: "ok" };
    }
  })();
  return { opening, close: () => controller.abort() };
}

describe("SSE streams against the connection limits", () => {
  let t: TestServer;
  let sessionId: string;
  const principals: TestPrincipal[] = [];
  const streams: SseStream[] = [];
  const open = (token: string, headers?: Record<string, string>) => {
    const stream = openSse(t, sessionId, token, headers);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    t = await startTestServer({
      PARLEY_AUTH: "on",
      MAX_CONNECTIONS_PER_PRINCIPAL: "3",
      MAX_CONNECTIONS_PER_ADDRESS: "4",
      PARLEY_TRUSTED_PROXIES: "127.0.0.1",
      RATE_LIMIT_PER_CONNECTION: "100000",
      RATE_LIMIT_PER_PRINCIPAL: "100000",
    });
    for (const name of ["a", "b", "c", "d"]) principals.push(await makePrincipal(t, "admin", name));
    const client = t.client({ token: principals[0]!.token });
    sessionId = (await client.api.session.create.mutate({ title: "sse limits" })).id;
    await client.api.message.post.mutate({ sessionId, content: "the first event" });
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await t?.close();
  });

  it("per principal, WebSockets and SSE streams together: one more is TOO_MANY_REQUESTS with a retry-after; another principal is unaffected; a closed stream frees its slot", async () => {
    const [a, b] = [principals[0]!, principals[1]!];
    // Each from its own address (through the trusted proxy), so only the per-principal limit applies.
    const from = (n: number) => ({ "x-forwarded-for": `198.51.100.${n}` });
    // One WebSocket of a's (the SDK's, opened at once).
    const ws = t.client({ token: a.token, lazy: false });
    await waitFor(() => t.server.deps.auth.limits.connectionsByPrincipal.count(a.id) === 1, "a's WebSocket counted");
    const held = [open(a.token, from(1)), open(a.token, from(2))];
    for (const stream of held) expect(await stream.opening).toEqual({ kind: "ok" });

    const refused = await open(a.token, from(3)).opening;
    expect(refused).toMatchObject({ kind: "refused", code: "TOO_MANY_REQUESTS", retryAfterMs: 1_000 });
    expect(refused.kind === "refused" && refused.message).toContain("MAX_CONNECTIONS_PER_PRINCIPAL");
    expect(await open(b.token, from(4)).opening).toEqual({ kind: "ok" });

    held[0]!.close();
    await waitFor(() => t.server.deps.auth.limits.connectionsByPrincipal.count(a.id) === 2, "the closed stream's slot back");
    expect(await open(a.token, from(5)).opening).toEqual({ kind: "ok" });
    await ws.close();
    for (const stream of streams) stream.close();
    await waitFor(() => principals.every((p) => t.server.deps.auth.limits.connectionsByPrincipal.count(p.id) === 0), "every slot back");
  });

  it("per address (the client a trusted proxy names): one more is TOO_MANY_REQUESTS with a retry-after; another address is unaffected", async () => {
    const limits = t.server.deps.auth.limits;
    const client = { "x-forwarded-for": "203.0.113.1" };
    // Four principals (one stream each), one address: the address limit (4) is what binds.
    const held = principals.map((p) => open(p.token, client));
    for (const stream of held) expect(await stream.opening).toEqual({ kind: "ok" });

    const refused = await open(principals[0]!.token, client).opening;
    expect(refused).toMatchObject({ kind: "refused", code: "TOO_MANY_REQUESTS", retryAfterMs: 1_000 });
    expect(refused.kind === "refused" && refused.message).toContain("MAX_CONNECTIONS_PER_ADDRESS");
    expect(limits.connectionsByAddress.count("203.0.113.1")).toBe(4);
    expect(await open(principals[0]!.token, { "x-forwarded-for": "203.0.113.2" }).opening).toEqual({ kind: "ok" });
  });
});
