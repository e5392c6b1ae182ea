// Inputs that decode into far more than they weigh: superjson's shared
// references (a value whose every level holds the level below twice, a big
// object shared thousands of times, a chain of references nested deeper than
// the request), cycles, and superjson types that cost a scan per path step
// (Sets). Sent by a signed-in member through every transport that decodes
// inputs (HTTP POST, GET and batches, WebSocket calls and subscriptions, SSE)
// and as connectionParams, to the server as `npm start` runs it. Each is
// refused with a typed error, and /api/health keeps answering within 100 ms
// while they arrive.
import fs from "node:fs";
import { SuperJSON } from "superjson";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrincipalWithToken } from "../src/server/auth/tokens";
import { openStorage } from "../src/server/db";
import { freshDatabase, spawnServer, type ServerProcess } from "./helpers/server";

/** superjson as an attacker configures it: a shared object is written once, its other places are references. */
const sharing = new SuperJSON({ dedupe: true });

/** A value whose every level holds the level below twice: 2^depth paths. */
function doubling(depth: number): object {
  let node: object = { leaf: "x" };
  for (let level = 0; level < depth; level++) node = { l: node, r: node };
  return node;
}

/** One object of `size` keys, shared `times` times in an array. */
function sharedWide(size: number, times: number): object {
  const shared = Object.fromEntries(Array.from({ length: size }, (_, i) => [`k${i}`, i]));
  return { items: Array.from({ length: times }, () => shared) };
}

/** `{ json, meta }` text for `session.create` with `metadata` (or any input) built by `sharing`. */
const encode = (input: unknown) => JSON.stringify(sharing.serialize(input));

/** Hand-made payloads superjson's serializer would not produce, but its deserializer accepts. */
const handMade: Record<string, string> = {
  // Every a_i holds a_{i+1} by reference: 1,000 levels deep once decoded, 2 levels in the request.
  "chain of references": JSON.stringify({
    json: { title: "t", metadata: Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`a${i}`, { next: null }])) },
    meta: { v: 1, referentialEqualities: Object.fromEntries(Array.from({ length: 999 }, (_, i) => [`metadata.a${i + 1}`, [`metadata.a${i}.next`]])) },
  }),
  cycle: JSON.stringify({ json: { title: "t", metadata: { self: null } }, meta: { v: 1, referentialEqualities: [["metadata.self"]] } }),
  "cycle below the root": JSON.stringify({
    json: { title: "t", metadata: { a: { b: null } } },
    meta: { v: 1, referentialEqualities: { "metadata.a": ["metadata.a.b"] } },
  }),
  // 5,000 paths each naming one of the last elements of a 5,000-element Set: superjson scans the Set for each.
  "paths into a Set": JSON.stringify({
    json: { title: "t", metadata: { s: Array.from({ length: 5_000 }, (_, i) => i) } },
    meta: { v: 1, values: { "metadata.s": ["set"], ...Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`metadata.s.${4_999 - i}`, ["number"]])) } },
  }),
};

const payloads: [string, string][] = [
  ...[12, 16, 22, 28].map((depth): [string, string] => [`doubling ×${depth}`, encode({ title: "t", metadata: { a: doubling(depth) } })]),
  ["one object shared 5,000 times", encode({ title: "t", metadata: sharedWide(200, 5_000) })],
  ...Object.entries(handMade),
];

let server: ServerProcess;
let db: { url: string; dir: string };
let token = "";
beforeAll(async () => {
  db = freshDatabase();
  const storage = await openStorage(db.url);
  const client = storage.db;
  ({ token } = await createPrincipalWithToken(client, { name: "a member", role: "member", expiresAt: null }));
  await storage.close();
  server = await spawnServer({ DATABASE_URL: db.url, PARLEY_AUTH: "on", LOG_LEVEL: "warn", RATE_LIMIT_PER_CONNECTION: "100000", RATE_LIMIT_PER_PRINCIPAL: "100000" });
}, 120_000);
afterAll(async () => {
  server?.child.kill("SIGTERM");
  await server?.exited;
  if (db) fs.rmSync(db.dir, { recursive: true, force: true });
});

/** Polls /api/health every 20 ms while `work` runs; the slowest answer, in ms. */
async function slowestHealthDuring(work: () => Promise<void>): Promise<number> {
  let slowest = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${server.url}/api/health`);
      await response.arrayBuffer();
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await poll;
  }
  return slowest;
}

const auth = () => ({ authorization: `Bearer ${token}` });

/** The tRPC error code in an HTTP answer (single or batch), or "ok"/"HTTP <status>". */
async function httpCode(response: Response): Promise<string[]> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [`HTTP ${response.status}: ${text.slice(0, 80)}`];
  }
  const answers = Array.isArray(body) ? body : [body];
  return answers.map((answer: { error?: { json?: { data?: { code?: string } } } }) => answer.error?.json?.data?.code ?? "ok");
}

/** A raw tRPC WebSocket signed in with connectionParams; `call` sends one request and resolves with its error code or "ok". */
async function openSocket(): Promise<{ call: (method: string, path: string, input: string) => Promise<string>; close: () => void }> {
  const socket = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/trpc-ws?connectionParams=1`);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ method: "connectionParams", data: { token } }));
  const waiting = new Map<number, (code: string) => void>();
  socket.on("message", (raw: Buffer) => {
    const text = raw.toString();
    if (text === "PING" || text === "PONG") return;
    const message = JSON.parse(text) as { id: number | null; error?: { json?: { data?: { code?: string } } }; result?: { type?: string } };
    const settle = message.id === null ? undefined : waiting.get(message.id);
    if (!settle) return;
    settle(message.error ? (message.error.json?.data?.code ?? "error without code") : `ok (${message.result?.type ?? "?"})`);
  });
  let nextId = 0;
  return {
    call(method, path, input) {
      const id = ++nextId;
      const answer = new Promise<string>((resolve) => waiting.set(id, resolve));
      socket.send(`{"id":${id},"method":${JSON.stringify(method)},"params":{"path":${JSON.stringify(path)},"input":${input}}}`);
      return answer;
    },
    close: () => socket.close(),
  };
}

const REFUSED = ["BAD_REQUEST", "PAYLOAD_TOO_LARGE"];

describe("an input that decodes into far more than it weighs", () => {
  it("is refused with a typed error on every transport, and health answers within 100 ms while such inputs arrive", async () => {
    const answers: { how: string; payload: string; code: string }[] = [];
    const socket = await openSocket();
    /** Every payload once through every transport. */
    const sendAll = async () => {
      for (const [payload, body] of payloads) {
        const post = await fetch(`${server.url}/api/trpc/session.create`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body });
        for (const code of await httpCode(post)) answers.push({ how: "HTTP POST", payload, code });
        const batch = await fetch(`${server.url}/api/trpc/session.create,session.update?batch=1`, {
          method: "POST",
          headers: { ...auth(), "content-type": "application/json" },
          body: `{"0":${body},"1":${body}}`,
        });
        for (const code of await httpCode(batch)) answers.push({ how: "HTTP batch", payload, code });
        if (body.length < 6_000) {
          const get = await fetch(`${server.url}/api/trpc/session.list?input=${encodeURIComponent(body)}`, { headers: auth() });
          for (const code of await httpCode(get)) answers.push({ how: "HTTP GET", payload, code });
          const sse = await fetch(`${server.url}/api/trpc/session.events?input=${encodeURIComponent(body)}`, {
            headers: { ...auth(), accept: "text/event-stream" },
          });
          const text = await sse.text();
          const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? `no error in: ${text.slice(0, 80)}`;
          answers.push({ how: "SSE", payload, code });
        }
        answers.push({ how: "WS mutation", payload, code: await socket.call("mutation", "session.create", body) });
        answers.push({ how: "WS subscription", payload, code: await socket.call("subscription", "session.events", body) });
      }
    };
    // Once unmeasured: the server compiles its refusal paths on first use, as any fresh process does.
    await sendAll();
    const slowest = await slowestHealthDuring(async () => {
      for (let round = 0; round < 3; round++) await sendAll();
    });
    socket.close();
    const notRefused = answers.filter(({ code }) => !REFUSED.includes(code));
    expect(notRefused).toEqual([]);
    expect(answers.length).toBeGreaterThan(payloads.length * 4 * 5);
    expect(slowest).toBeLessThan(100);
  }, 120_000);

  it("as connectionParams, over the WebSocket and SSE: a typed error, and the server stays up", async () => {
    const [, body] = payloads.find(([name]) => name === "doubling ×22") as [string, string];
    const socket = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/trpc-ws?connectionParams=1`);
    await new Promise((resolve) => socket.once("open", resolve));
    const reply = new Promise<string>((resolve) => socket.once("message", (raw: Buffer) => resolve(raw.toString())));
    socket.send(`{"method":"connectionParams","data":${body}}`);
    expect(await reply).toContain('"code":"PARSE_ERROR"');
    socket.close();
    const sse = await fetch(`${server.url}/api/trpc/session.events?input=${encodeURIComponent('{"json":{"sessionId":"s"}}')}&connectionParams=${encodeURIComponent(body)}`, {
      headers: { accept: "text/event-stream" },
    });
    expect(await sse.text()).toContain('"code":"PARSE_ERROR"');
    expect((await fetch(`${server.url}/api/health`)).status).toBe(200);
  });

  it("a value shared in the ordinary way (the same object twice, as superjson writes it by default) is still accepted", async () => {
    const tags = { kind: "shared", n: 1 };
    const body = JSON.stringify(new SuperJSON().serialize({ title: "shared twice", metadata: { first: tags, second: tags } }));
    expect(body).toContain("referentialEqualities");
    const post = await fetch(`${server.url}/api/trpc/session.create`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body });
    const created = (await post.json()) as { result: { data: { json: { metadata: unknown } } } };
    expect(created.result.data.json.metadata).toEqual({ first: tags, second: tags });
  });
});
