// Fuzzing every procedure as an admin, with authentication on:
// inputs generated from the procedure's own zod schema (valid ones, some
// naming real sessions, messages and runs, and the same with one field
// broken), plus hostile ones (huge strings, deep nesting, prototype-pollution
// keys, broken JSON, and inputs that decode into far more than they weigh).
// Queries and mutations go over HTTP, subscriptions over
// the WebSocket protocol itself. Every call is answered with a success or a
// typed error, never INTERNAL_SERVER_ERROR; broken input is always
// BAD_REQUEST and valid input never is; the server stays healthy. Then every
// procedure again with hostile headers: another site's Host (DNS rebinding)
// and another site's Origin carrying the session cookie.
import fc from "fast-check";
import { SuperJSON } from "superjson";
import WebSocket from "ws";
import { z } from "zod";
import { afterAll, beforeAll, expect, it } from "vitest";
import { appRouter } from "../src/server/routers/_app";
import { createToken } from "../src/server/auth/tokens";
import { AUTH_CALL_MANY_ENV, makePrincipal, upgrade, type TestPrincipal } from "./helpers/auth";
import { rawRequest } from "./helpers/http";
import { arbitraryFor, invalidArbitraryFor, type ArbitraryOptions } from "./helpers/schema-arbitrary";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

/** Generated inputs per procedure, of each kind. */
const RUNS = 20;

let t: TestServer;
let admin: TestPrincipal;
beforeAll(async () => {
  t = await startTestServer(AUTH_CALL_MANY_ENV);
  admin = await makePrincipal(t, "admin", "fuzzer");
});
afterAll(async () => {
  await t?.close();
});

/** What one call came back with: "ok" or the error code, whether zod refused the input, the HTTP status. */
interface Answer {
  code: string;
  invalidInput: boolean;
  status: number | null;
}

const errorReply = z.object({
  error: z.object({
    json: z.object({ data: z.object({ code: z.string(), zodIssues: z.array(z.unknown()).nullable().optional() }) }),
  }),
});

function answerOf(body: unknown, status: number | null): Answer {
  const error = errorReply.safeParse(body);
  if (!error.success) return { code: status !== null && status >= 400 ? `HTTP ${status}` : "ok", invalidInput: false, status };
  const { code, zodIssues } = error.data.error.json.data;
  return { code, invalidInput: code === "BAD_REQUEST" && (zodIssues?.length ?? 0) > 0, status };
}

/** A query or mutation over HTTP, with a body as the tRPC client would send it (superjson's `{ json }`). */
async function callHttp(path: string, type: "query" | "mutation", body: string): Promise<Answer> {
  const headers = { authorization: `Bearer ${admin.token}`, "content-type": "application/json" };
  // A URL over Node's header limit would be refused before tRPC: hostile giants go without input.
  const query = body.length < 8_000 ? `?input=${encodeURIComponent(body)}` : "";
  const response =
    type === "mutation"
      ? await fetch(`${t.url}/api/trpc/${path}`, { method: "POST", headers, body })
      : await fetch(`${t.url}/api/trpc/${path}${query}`, { headers });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: judged by its status.
  }
  return answerOf(parsed, response.status);
}

/**
 * Subscriptions over one raw tRPC WebSocket (the typed client would refuse
 * some hostile inputs before sending them). A subscription's answer is its
 * first value or error; one that starts and stays quiet (no matching events)
 * counts as ok once QUIET_MS passes.
 */
const QUIET_MS = 300;
const wsReply = z.object({
  id: z.union([z.number(), z.string()]).nullable(),
  result: z.object({ type: z.string() }).optional(),
  error: z.unknown().optional(),
});

async function openSubscriptionSocket() {
  const socket = new WebSocket(`${t.url.replace(/^http/, "ws")}/api/trpc-ws?connectionParams=1`);
  await new Promise((resolve) => socket.once("open", resolve));
  socket.send(JSON.stringify({ method: "connectionParams", data: { token: admin.token } }));
  const waiting = new Map<number, (answer: Answer) => void>();
  const timers = new Map<number, NodeJS.Timeout>();
  // A socket the server closed fails the calls waiting on it at once, rather than at the test's timeout.
  const failing = new Map<number, (error: Error) => void>();
  socket.on("close", (code: number) => {
    for (const fail of failing.values()) fail(new Error(`the subscription socket closed (${code}) while a call waited for its answer`));
  });
  socket.on("message", (raw: Buffer) => {
    const text = raw.toString();
    // The server's keep-alive: a client that does not answer is closed (tRPC's clients answer it too).
    if (text === "PING") return socket.send("PONG");
    const reply = wsReply.safeParse(JSON.parse(text));
    if (!reply.success || typeof reply.data.id !== "number") return;
    const id = reply.data.id;
    const settle = waiting.get(id);
    if (!settle) return;
    if (reply.data.error !== undefined) settle(answerOf({ error: reply.data.error }, null));
    else if (reply.data.result?.type === "data") settle({ code: "ok", invalidInput: false, status: null });
    else if (reply.data.result?.type === "started" && !timers.has(id)) {
      timers.set(id, setTimeout(() => settle({ code: "ok", invalidInput: false, status: null }), QUIET_MS));
    }
  });
  let nextId = 0;
  return {
    socket,
    /** Subscribe with `input` (JSON text of `{ json }`), wait for the answer, then stop the subscription. */
    async subscribe(path: string, body: string): Promise<Answer> {
      const id = ++nextId;
      let input: unknown = body;
      try {
        input = JSON.parse(body);
      } catch {
        // Sent as a string: the server must refuse it as input.
      }
      const answer = new Promise<Answer>((resolve, reject) => {
        waiting.set(id, resolve);
        failing.set(id, reject);
        if (socket.readyState !== WebSocket.OPEN) reject(new Error(`the subscription socket closed before ${path} was answered`));
      });
      socket.send(JSON.stringify({ id, method: "subscription", params: { path, input } }));
      const result = await answer;
      waiting.delete(id);
      failing.delete(id);
      clearTimeout(timers.get(id));
      timers.delete(id);
      socket.send(JSON.stringify({ id, method: "subscription.stop" }));
      return result;
    },
  };
}

const hostile: unknown[] = [
  null,
  0,
  -1,
  1e308,
  "",
  "x".repeat(1_000_000),
  true,
  [],
  [1, "a", null],
  {},
  JSON.parse('{"__proto__": {"polluted": "yes"}}'),
  { constructor: { prototype: { polluted: "yes" } } },
  { sessionId: JSON.parse('{"__proto__": {"polluted": "yes"}}') as unknown },
];
/** A request body nested `depth` levels deep, written as text (the test's own JSON.stringify would overflow). */
const deepBody = (depth: number) => {
  const nested = `${'[{"a":'.repeat(depth)}1${"}]".repeat(depth)}`;
  return `{"json":{"sessionId":${nested},"id":${nested},"title":${nested}}}`;
};
const rawBodies: string[] = [deepBody(200), deepBody(20_000), "{not json", '{"json":'];

/**
 * Inputs that decode into far more than they weigh (superjson's shared
 * references, written once by a `dedupe` serializer): every level holding the
 * one below twice, one object shared thousands of times, a value nested deeper
 * by references than in the request. Each goes as the whole input and under
 * every key the procedure's input names.
 */
const sharing = new SuperJSON({ dedupe: true });
function amplifiers(): unknown[] {
  let doubling: object = { leaf: "x" };
  for (let level = 0; level < 24; level++) doubling = { l: doubling, r: doubling };
  const shared = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
  const wide = Array.from({ length: 5_000 }, () => shared);
  let chain: object = { end: true };
  for (let level = 0; level < 200; level++) chain = { next: chain, same: chain };
  return [doubling, wide, chain];
}
function amplifiedBodies(schema: z.ZodType | undefined): string[] {
  const keys = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  return amplifiers().flatMap((value) => [value, ...keys.map((key) => ({ [key]: value }))]).map((input) => JSON.stringify(sharing.serialize(input)));
}

it("every procedure: generated valid input is never refused as invalid, broken input is always BAD_REQUEST, nothing is INTERNAL_SERVER_ERROR", async () => {
  // Real things for generated ids to name now and then, so calls reach past NOT_FOUND.
  const api = t.client({ token: admin.token }).api;
  const member = await makePrincipal(t, "member", "fuzzed member");
  const session = await api.session.create.mutate({ title: "fuzzed" });
  const posted = await api.message.post.mutate({ sessionId: session.id, content: "a message to name" });
  const asked = await api.chat.send.mutate({ sessionId: session.id, content: "what does the fuzzer ask?" });
  await t.server.deps.chat.whenFinished(asked.runId);
  const real: ArbitraryOptions = {
    properties: {
      id: fc.constant(session.id),
      sessionId: fc.constant(session.id),
      messageId: fc.constantFrom(posted.id, asked.assistantMessageId),
      runId: fc.constant(asked.runId),
      principalId: fc.constant(member.id),
    },
  };

  const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: "query" | "mutation" | "subscription"; inputs: z.ZodType[] } }>);
  const subscriptions = await openSubscriptionSocket();
  const failures: string[] = [];
  const figures = { calls: 0, valid: 0, invalid: 0 };
  /** How generated valid calls were answered, by code: how far past validation they got. */
  const validAnswers = new Map<string, number>();
  // Health is polled all along: no input, amplified or not, may stall the server.
  let slowestHealthMs = 0;
  let fuzzing = true;
  const healthPoll = (async () => {
    while (fuzzing) {
      const started = performance.now();
      // One retry for a kept-alive connection the server closed as idle just as this request went out.
      const health = await fetch(`${t.url}/api/health`).catch(() => fetch(`${t.url}/api/health`));
      await health.arrayBuffer();
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  for (const [index, [path, procedure]] of procedures.entries()) {
    const { type, inputs } = procedure._def;
    const call = (body: string) => (type === "subscription" ? subscriptions.subscribe(path, body) : callHttp(path, type, body));
    const schema = inputs[0];
    const seed = 1_000 + index;
    const valid = schema ? fc.sample(arbitraryFor(schema, real).filter((v) => schema.safeParse(v).success), { numRuns: RUNS, seed }) : [undefined];
    const invalid = schema ? fc.sample(invalidArbitraryFor(schema, real), { numRuns: RUNS, seed }) : [];
    const cases = [
      ...valid.map((input) => ({ kind: "valid", body: JSON.stringify({ json: input }) })),
      ...invalid.map((input) => ({ kind: "invalid", body: JSON.stringify({ json: input }) })),
      ...hostile.map((input) => ({ kind: "hostile", body: JSON.stringify({ json: input }) })),
      ...(type === "subscription" ? [] : rawBodies.map((body) => ({ kind: "raw", body }))),
      // A query's input travels in its URL: only the amplifiers that fit one.
      ...amplifiedBodies(schema)
        .filter((body) => type !== "query" || body.length < 8_000)
        .map((body) => ({ kind: "amplified", body })),
    ];
    for (const { kind, body } of cases) {
      const answer = await call(body);
      figures.calls++;
      const what = `${path} (${kind}) ${body.slice(0, 120)} → ${answer.code}`;
      if (answer.code === "INTERNAL_SERVER_ERROR" || (answer.status !== null && answer.status >= 500)) failures.push(what);
      else if (kind === "valid" && answer.invalidInput) failures.push(`${what}: valid by its schema, refused as invalid`);
      else if (kind === "invalid" && answer.code !== "BAD_REQUEST") failures.push(`${what}: invalid by its schema, not BAD_REQUEST`);
      else if (kind === "amplified" && answer.code !== "BAD_REQUEST" && answer.code !== "PAYLOAD_TOO_LARGE") failures.push(`${what}: amplified, not refused`);
      if (kind === "valid") {
        figures.valid++;
        validAnswers.set(answer.code, (validAnswers.get(answer.code) ?? 0) + 1);
      }
      if (kind === "invalid") figures.invalid++;
    }
  }
  subscriptions.socket.close();
  fuzzing = false;
  await healthPoll;
  console.log(
    `fuzz: ${procedures.length} procedures, ${figures.calls} calls (${figures.valid} valid and ${figures.invalid} broken from their schemas), ${failures.length} failures; valid ones answered ${JSON.stringify(Object.fromEntries(validAnswers))}; slowest health ${Math.round(slowestHealthMs)} ms`,
  );
  expect(failures).toEqual([]);
  // The server and this fuzzer share one process: the bound is loose, but a stall (seconds) fails it.
  expect(slowestHealthMs).toBeLessThan(1_000);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  const health = await fetch(`${t.url}/api/health`);
  expect(health.status).toBe(200);
  await waitFor(() => t.server.wsServer.clients.size === 0, "the fuzzer's socket closed");
}, 300_000);

/** Host names of other sites, as a rebinding page or a forged request would send them (never one this server answers). */
const foreignHost = fc.oneof(
  fc.domain(),
  fc.domain().map((d) => `localhost.${d}`),
  fc.ipV4().map((ip) => `${ip}.nip.io`),
  fc.domain().map((d) => `${d}.`),
  fc.domain().map((d) => d.toUpperCase()),
).filter((host) => !/^localhost\.?$/i.test(host));

it("every procedure: a foreign Host is refused (421, nothing changes), another site's Origin gets no cookie identity and no CORS headers", async () => {
  const { db } = t.server.deps;
  const { token: cookieToken } = await createToken(db, { principalId: admin.id, name: "fuzzed cookie", kind: "cookie", expiresAt: null });
  const cookie = `parley_session=${cookieToken}`;
  const port = new URL(t.url).port;
  const counts = async () => [await db.session.count(), await db.message.count(), await db.agent.count(), await db.apiToken.count(), await db.sessionEvent.count()];
  const before = await counts();
  const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: "query" | "mutation" | "subscription"; inputs: z.ZodType[] } }>);
  const failures: string[] = [];
  let calls = 0;
  for (const [index, [path, procedure]] of procedures.entries()) {
    const { type, inputs } = procedure._def;
    const schema = inputs[0];
    const input = schema ? fc.sample(arbitraryFor(schema).filter((v) => schema.safeParse(v).success), { numRuns: 1, seed: 2_000 + index })[0] : undefined;
    const body = JSON.stringify({ json: input });
    const hosts = fc.sample(foreignHost, { numRuns: 5, seed: 3_000 + index });
    for (const host of hosts) {
      calls++;
      if (type === "subscription") {
        const status = await upgrade(t.url, { host: `${host}:${port}`, origin: `http://${host}:${port}`, cookie });
        if (status !== 421) failures.push(`${path} upgrade with Host ${host}: ${status}`);
        continue;
      }
      const headers = { host: `${host}:${port}`, origin: `http://${host}:${port}`, cookie, "content-type": "application/json" };
      const response =
        type === "mutation"
          ? await rawRequest(`${t.url}/api/trpc/${path}`, { method: "POST", headers, body })
          : await rawRequest(`${t.url}/api/trpc/${path}?input=${encodeURIComponent(body)}`, { headers });
      if (response.status !== 421) failures.push(`${path} with Host ${host}: ${response.status}`);
    }
    if (type === "subscription") continue;
    // The right Host, another site's Origin and the session cookie: the cookie is not honoured, no CORS headers.
    const origin = `https://${fc.sample(fc.domain(), { numRuns: 1, seed: 4_000 + index })[0] ?? "evil.example"}`;
    const headers = { origin, cookie, "content-type": "application/json" };
    const response =
      type === "mutation"
        ? await rawRequest(`${t.url}/api/trpc/${path}`, { method: "POST", headers, body })
        : await rawRequest(`${t.url}/api/trpc/${path}?input=${encodeURIComponent(body)}`, { headers });
    calls++;
    const { code } = answerOf(JSON.parse(response.body) as unknown, response.status);
    const open = path === "system.health" || path === "system.ping";
    if (!open && code !== "UNAUTHORIZED") failures.push(`${path} from ${origin} with the cookie: ${code}, not UNAUTHORIZED`);
    if (response.headers["access-control-allow-origin"] !== undefined) failures.push(`${path} from ${origin}: CORS headers sent`);
  }
  console.log(`fuzz (hostile headers): ${procedures.length} procedures, ${calls} calls, ${failures.length} failures`);
  expect(failures).toEqual([]);
  expect(await counts()).toEqual(before);
}, 120_000);
