// Plain JSON queries and mutations over HTTP are answered by http-calls.ts,
// past tRPC's Fetch adaptation: the same status, content type and body, byte
// for byte, as tRPC's own Node handler (a second server on the same database
// with HTTP_DIRECT_CALLS=off), for answers, errors of every stage, batches
// and what falls back to tRPC. Which handler answered shows in the framing:
// http-calls.ts sends a Content-Length, tRPC's adapter a chunked body.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_CALL_MANY_ENV, makePrincipal, type TestPrincipal } from "./helpers/auth";
import { rawRequest, type RawRequestOptions, type RawResponse } from "./helpers/http";
import { startTestServer, type TestServer } from "./helpers/server";

let direct: TestServer;
let plain: TestServer;
let admin: TestPrincipal;
let sessionId: string;
beforeAll(async () => {
  direct = await startTestServer({ ...AUTH_CALL_MANY_ENV, WS_MAX_PAYLOAD_BYTES: "65536" });
  plain = await startTestServer({ ...AUTH_CALL_MANY_ENV, WS_MAX_PAYLOAD_BYTES: "65536", DATABASE_URL: direct.server.deps.config.DATABASE_URL, HTTP_DIRECT_CALLS: "off" });
  admin = await makePrincipal(direct, "admin");
  const created = await both("/api/trpc/session.create", post({ json: { title: "http calls" } }));
  sessionId = (JSON.parse(created.direct.body) as { result: { data: { json: { id: string } } } }).result.data.json.id;
}, 60_000);
afterAll(async () => {
  await plain?.close();
  await direct?.close();
});

const auth = () => ({ authorization: `Bearer ${admin.token}` });
function post(body: unknown, headers: Record<string, string> = {}): RawRequestOptions {
  return { method: "POST", headers: { "content-type": "application/json", ...auth(), ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) };
}
const get = (headers: Record<string, string> = auth()): RawRequestOptions => ({ method: "GET", headers });
const input = (value: unknown) => encodeURIComponent(JSON.stringify(value));

/** The same request to both servers, one after the other. */
async function both(path: string, options: RawRequestOptions): Promise<{ direct: RawResponse; plain: RawResponse }> {
  const a = await rawRequest(`${direct.url}${path}`, options);
  const b = await rawRequest(`${plain.url}${path}`, options);
  return { direct: a, plain: b };
}

/** Same status, content type, vary and body; `answeredDirectly` says which handler the direct server used. */
async function expectSame(path: string, options: RawRequestOptions, answeredDirectly: boolean) {
  const { direct: a, plain: b } = await both(path, options);
  expect({ status: a.status, type: a.headers["content-type"], vary: a.headers.vary, body: a.body }).toEqual({
    status: b.status,
    type: b.headers["content-type"],
    vary: b.headers.vary,
    body: b.body,
  });
  expect(b.headers["transfer-encoding"]).toBe("chunked");
  if (answeredDirectly) expect(a.headers["content-length"]).toBe(String(Buffer.byteLength(a.body)));
  else expect(a.headers["transfer-encoding"]).toBe("chunked");
  return a;
}

describe("HTTP calls without tRPC's Fetch adaptation", () => {
  it("answers queries, batches and their errors as tRPC does", async () => {
    const ok = await expectSame(`/api/trpc/session.get?input=${input({ json: { id: sessionId } })}`, get(), true);
    expect(ok.status).toBe(200);
    // A batch of two queries, one refused by zod: 207 with a result and an error.
    const batch = await expectSame(`/api/trpc/session.get,message.list?batch=1&input=${input({ 0: { json: { id: sessionId } }, 1: { json: { sessionId: 5 } } })}`, get(), true);
    expect(batch.status).toBe(207);
    await expectSame(`/api/trpc/session.get?input=${input({ json: { id: "missing" } })}`, get(), true);
    await expectSame(`/api/trpc/session.get?input=%7Bnot-json`, get(), true);
    await expectSame(`/api/trpc/session.get?batch=1&input=${input([1])}`, get(), true);
    await expectSame(`/api/trpc/session.get,session.get?batch=1&input=${input("x")}`, get(), true);
    // Anonymous: UNAUTHORIZED from the gate, before the input is read.
    await expectSame(`/api/trpc/session.get?input=${input({ json: { id: sessionId } })}`, get({}), true);
  });

  it("answers mutations and their errors as tRPC does, one group commit for a batch", async () => {
    const key = { json: { sessionId, content: "once", clientKey: "http-calls-1" } };
    // Written once here; both servers then answer the repeat from the stored row.
    await rawRequest(`${direct.url}/api/trpc/message.post`, post(key));
    const repeat = await expectSame("/api/trpc/message.post", post(key), true);
    expect(repeat.status).toBe(200);
    await expectSame("/api/trpc/message.post", post({ json: { sessionId: "missing", content: "x" } }), true);
    await expectSame("/api/trpc/message.post", post({ json: { sessionId, content: 7 } }), true);
    await expectSame("/api/trpc/message.post", post("{not json"), true);
    await expectSame("/api/trpc/message.post", post(""), true);
    await expectSame("/api/trpc/message.post", post(`\uFEFF${JSON.stringify(key)}`), true);
    await expectSame("/api/trpc/message.post", post({ json: { sessionId, content: "x".repeat(70_000) } }), true);
    await expectSame("/api/trpc/message.post?batch=1", post({ 0: key, 1: { json: { sessionId: "missing", content: "x" } } }), true);
    await expectSame("/api/trpc/message.post", post({ json: { sessionId, content: "x" } }, { authorization: "Bearer nope" }), true);

    // A batch of posts is one HTTP request and one group commit: one transaction, consecutive seqs in call order.
    const sqlite = direct.server.deps.storage.sqlite;
    if (!sqlite) throw new Error("this spec runs on SQLite");
    const immediate = sqlite.immediate.bind(sqlite);
    let transactions = 0;
    sqlite.immediate = (body) => {
      transactions++;
      return immediate(body);
    };
    const posts = Object.fromEntries([0, 1, 2, 3, 4].map((i) => [i, { json: { sessionId, content: `batch ${i}` } }]));
    const answer = await rawRequest(`${direct.url}/api/trpc/${Array(5).fill("message.post").join(",")}?batch=1`, post(posts));
    const seqs = (JSON.parse(answer.body) as { result: { data: { json: { seq: number } } } }[]).map((r) => r.result.data.json.seq);
    sqlite.immediate = immediate;
    expect(transactions).toBe(1);
    const first = seqs[0] ?? 0;
    expect(seqs).toEqual([first, first + 1, first + 2, first + 3, first + 4]);
  });

  it("leaves to tRPC what it does not answer: streams, other methods and content types, unknown paths", async () => {
    await expectSame(`/api/trpc/message.post?input=${input({ json: { sessionId, content: "x" } })}`, get(), false);
    await expectSame(`/api/trpc/session.get`, post({ json: { id: sessionId } }), false);
    await expectSame("/api/trpc/no.such.procedure", post({ json: {} }), false);
    await expectSame("/api/trpc/message.post", post({ json: { sessionId: "missing", content: "x" } }, { "content-type": "text/plain" }), false);
    await expectSame(`/api/trpc/session.get?batch=1&input=${input({ 0: { json: { id: sessionId } } })}`, get({ ...auth(), "trpc-accept": "application/jsonl" }), false);
  });
});
