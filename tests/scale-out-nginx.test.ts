// The README's nginx sample (ops/nginx/parley.conf), run for real in front of
// two instances sharing Redis and one database, with no sticky sessions: the
// SDK's ask() gets the whole answer when chat.send (HTTP) reaches one instance
// and chat.run (WebSocket) the other; clients that know only the balancer's
// address follow a session over WebSocket and over SSE, the instance holding
// the WebSocket is stopped as in a rolling restart, and both resume through
// nginx on the other instance with every message exactly once. Behind it,
// with nginx trusted (PARLEY_TRUSTED_PROXIES), one client's 50 sockets and
// burst of calls use up only that client's limits.
import fs from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { createParleyClient, type AskItem, type ParleyClient, type TailItem } from "@parley/client";
import type { ChatRunEvent } from "../src/shared/chat";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { nginxSkipReason, startNginx, type NginxServer } from "./helpers/nginx";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { holdSocket, makePrincipal } from "./helpers/auth";
import { rawRequest } from "./helpers/http";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";
import { range } from "./helpers/stream";

const skip = nginxSkipReason ?? redisSkipReason;
const run = skip ? it.skip : it;
if (skip) console.warn(`scale-out-nginx.test.ts: ${skip}`);

let redis: RedisServer;
let openai: FakeProvider;
let nginx: NginxServer;
let a: TestServer;
let b: TestServer;
let dbDir: string;
const clients: ParleyClient[] = [];

beforeAll(async () => {
  if (skip) return;
  redis = await startRedis();
  openai = await startFakeOpenAi();
  const db = freshDatabase();
  dbDir = db.dir;
  const env = { REDIS_URL: redis.url, DATABASE_URL: db.url, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "test-key" };
  a = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-a" });
  b = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-b" });
  nginx = await startNginx([a.url, b.url].map((u) => new URL(u).host));
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await nginx?.close();
  await a?.close();
  await b?.close();
  await openai?.close();
  await redis?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

function client(transport: "ws" | "sse"): ParleyClient {
  const c = createParleyClient({ url: nginx.url, transport, retryDelayMs: () => 100 });
  clients.push(c);
  return c;
}

/** Follow a session through tail() into an array until `signal` aborts. */
function follow(c: ParleyClient, sessionId: string, signal: AbortSignal): TailItem[] {
  const items: TailItem[] = [];
  void (async () => {
    for await (const item of c.tail(sessionId, { signal })) items.push(item);
  })();
  return items;
}

/** Post message `n` through nginx with a client key, retrying until it is stored (a retry never stores it twice). */
async function post(poster: ParleyClient, sessionId: string, n: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await poster.api.message.post.mutate({ sessionId, content: `m${n}`, clientKey: `post-${n}` });
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const seqsOf = (items: TailItem[]) => items.flatMap((i) => (i.event.type === "message.created" ? [i.event.message.seq] : []));

run("ask() gets the whole answer, each delta once, when chat.send and chat.run reach different instances", async () => {
  const tokens = Array.from({ length: 40 }, (_, i) => `word${i} `);
  openai.answers = [{ kind: "tokens", tokens, intervalMs: 15 }];
  const asker = client("ws"); // chat.send over HTTP (round robin), chat.run over the one WebSocket
  const agentId = (await asker.api.agent.list.query()).find((agent) => agent.provider === "openai")?.id;
  expect(agentId).toBeDefined();
  const session = await asker.api.session.create.mutate({ title: "asked through nginx" });
  let crossed = 0;
  // Round robin sends consecutive chat.send calls to alternate instances: within a few, one runs away from the WebSocket.
  for (let attempt = 0; attempt < 6 && crossed === 0; attempt++) {
    const raw: ChatRunEvent[] = [];
    const items: AskItem[] = [];
    let rawSubscription: { unsubscribe: () => void } | undefined;
    for await (const item of asker.ask(session.id, `question ${attempt}`, {
      agentId,
      // A second chat.run beside ask()'s own, to see the deltas exactly as the server sends them.
      onStarted: ({ runId }) => {
        rawSubscription = asker.api.chat.run.subscribe({ runId }, { onData: ({ data }) => raw.push(data) });
      },
    })) {
      items.push(item);
    }
    const done = items.at(-1);
    if (done?.type !== "done") throw new Error(`ask() ended without done: ${JSON.stringify(items.at(-1))}`);
    expect(done.message.status).toBe("complete");
    expect(done.message.content).toBe(tokens.join(""));
    const deltas = items.flatMap((i) => (i.type === "delta" ? [i] : []));
    expect(deltas.map((d) => d.text).join("")).toBe(tokens.join(""));
    await waitFor(() => raw.some((e) => e.type === "done"), "the raw chat.run to end");
    rawSubscription?.unsubscribe();
    // Each piece of text once: every delta starts where the one before ended.
    let offset = 0;
    for (const event of raw) {
      if (event.type !== "delta") continue;
      expect(event.offset).toBe(offset);
      offset += event.text.length;
    }
    expect(offset).toBe(tokens.join("").length);
    const executedOn = (done.message.metadata as { instance?: string }).instance;
    const holder = a.server.deps.connections.list().length > 0 ? "instance-a" : "instance-b";
    if (executedOn !== holder) crossed++;
  }
  expect(crossed).toBe(1);
}, 60_000);

run("proxies HTTP, SSE and WebSocket; a client whose instance stops resumes through nginx on the other with nothing lost", async () => {
  // Health through the balancer; metrics are kept off the public side.
  expect((await fetch(`${nginx.url}/api/health`)).status).toBe(200);
  expect((await fetch(`${nginx.url}/api/metrics`)).status).toBe(403);

  const poster = client("sse"); // queries and mutations are HTTP either way
  const session = await poster.api.session.create.mutate({ title: "behind nginx" });
  const stop = new AbortController();
  const overWs = follow(client("ws"), session.id, stop.signal);
  const overSse = follow(client("sse"), session.id, stop.signal);
  await waitFor(
    () => a.server.deps.connections.list().length + b.server.deps.connections.list().length === 1,
    "the WebSocket through nginx",
    5_000,
  );
  const [holder, other] = a.server.deps.connections.list().length === 1 ? [a, b] : [b, a];

  const total = 60;
  for (const n of range(1, 20)) await post(poster, session.id, n);
  await waitFor(() => seqsOf(overWs).length === 20 && seqsOf(overSse).length === 20, "the first 20 on both streams", 5_000);

  // A rolling restart: the instance holding the WebSocket stops (SIGTERM does this) while posts go on.
  const posting = (async () => {
    for (const n of range(21, total)) {
      await post(poster, session.id, n);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await holder.close();
  await posting;
  await waitFor(() => seqsOf(overWs).length >= total && seqsOf(overSse).length >= total, "all messages on both streams", 15_000);
  await waitFor(() => other.server.deps.connections.list().length === 1, "the WebSocket now on the other instance", 5_000);

  for (const items of [overWs, overSse]) {
    expect(seqsOf(items)).toEqual(range(1, total));
    const ids = items.map((i) => Number(i.id));
    expect(ids).toEqual(range(1, total)); // one event per message: ids consecutive, none twice
  }
  const stored = await poster.api.message.list.query({ sessionId: session.id, limit: 100 });
  expect(stored.items.map((m) => m.seq).sort((x, y) => x - y)).toEqual(range(1, total));
  stop.abort();
});

run("accepts a browser's WebSocket upgrade through nginx on a non-default port (the Host header keeps the port)", async () => {
  // Browsers send Origin; Parley compares it with Host. nginx must pass the client's Host, port included.
  const ws = new WebSocket(`${nginx.url.replace(/^http/, "ws")}/api/trpc-ws`, { origin: nginx.url });
  const outcome = await new Promise<string>((resolve) => {
    ws.once("open", () => resolve("open"));
    ws.once("unexpected-response", (_req, res) => resolve(`refused ${res.statusCode}`));
    ws.once("error", (err) => resolve(`error ${err.message}`));
  });
  ws.terminate();
  expect(outcome).toBe("open");
});

run("behind nginx, 50 anonymous sockets and a burst of anonymous calls from one client leave another client's calls and upgrades untouched", async () => {
  // The loopback addresses 127.0.0.2 and .3 are two client machines; nginx (127.0.0.1) is the trusted proxy.
  const instance = await startTestServer({ PARLEY_AUTH: "on", PARLEY_TRUSTED_PROXIES: "127.0.0.1", RATE_LIMIT_PER_CONNECTION: "20", RATE_LIMIT_BURST: "0" });
  const proxy = await startNginx([new URL(instance.url).host]);
  const attacker = "127.0.0.2";
  const other = "127.0.0.3";
  const held: WebSocket[] = [];
  try {
    const member = await makePrincipal(instance, "member");
    // MAX_CONNECTIONS_PER_ADDRESS (50): the attacker gets its 50 sockets, the 51st is refused.
    for (let i = 0; i < 50; i++) {
      const ws = await holdSocket(proxy.url, { origin: proxy.url }, { localAddress: attacker });
      if (!(ws instanceof WebSocket)) throw new Error(`the attacker's socket ${i + 1} was not opened: ${ws}`);
      held.push(ws);
    }
    expect(await holdSocket(proxy.url, { origin: proxy.url }, { localAddress: attacker })).toBe("refused 429 retry-after 1");

    // A burst of anonymous calls from the attacker, over nginx's keep-alive connections, while the other client works.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const statuses: number[] = [];
    let bursting = true;
    const burst = Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (bursting) statuses.push((await rawRequest(`${proxy.url}/api/trpc/system.health`, { agent, localAddress: attacker })).status);
      }),
    );
    await waitFor(() => statuses.filter((s) => s === 429).length >= 20, "the attacker's burst to be refused", 10_000);

    const bearer = { authorization: `Bearer ${member.token}` };
    const calls: number[] = [];
    for (let i = 0; i < 10; i++) calls.push((await rawRequest(`${proxy.url}/api/trpc/auth.me`, { headers: bearer, localAddress: other })).status);
    const created = await rawRequest(`${proxy.url}/api/trpc/session.create`, {
      method: "POST",
      localAddress: other,
      headers: { ...bearer, "content-type": "application/json" },
      body: JSON.stringify({ json: { title: "not locked out" } }),
    });
    const upgrades = [await holdSocket(proxy.url, { origin: proxy.url }, { localAddress: other }), await holdSocket(proxy.url, { origin: proxy.url }, { localAddress: other })];
    bursting = false;
    await burst;
    agent.destroy();

    expect(calls).toEqual(Array.from({ length: 10 }, () => 200));
    expect(created.status).toBe(200);
    expect(upgrades.map((u) => (u instanceof WebSocket ? "open" : u))).toEqual(["open", "open"]);
    for (const u of upgrades) if (u instanceof WebSocket) held.push(u);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set([200, 429]));
  } finally {
    for (const ws of held) ws.terminate();
    await proxy.close();
    await instance.close();
  }
}, 60_000);
