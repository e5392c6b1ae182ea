// Chaos: 50 subscribers on one session (some over SSE) while 10,000 messages
// are posted and a chat answer streams; sockets are killed at random from both
// sides. Every subscriber ends with exactly the persisted sequence, in order,
// and every answer rebuilt from snapshots and deltas agrees with the persisted
// final text (equal, or a prefix completed by the final message.updated).
// PARLEY_CHAOS_MESSAGES / PARLEY_CHAOS_KILLS scale it up for `npm run test:long`.
import { createTRPCClient, createWSClient, splitLink, wsLink, httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import { afterAll, beforeAll, expect, it } from "vitest";
import NodeWebSocket from "ws";
import type { AppRouter } from "../src/server/routers/_app";
import type { SessionEvent } from "../src/shared/events";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { range } from "./helpers/stream";

const MESSAGES = Number(process.env.PARLEY_CHAOS_MESSAGES ?? 10_000);
const MIN_KILLS = Number(process.env.PARLEY_CHAOS_KILLS ?? 100);
const SUBSCRIBERS = 50;
const SSE_SUBSCRIBERS = 10;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ CHAT_BUILTIN_CHUNK_DELAY_MS: "20", SUBSCRIBER_QUEUE_LIMIT: "200" });
});
afterAll(async () => {
  await t.close();
});

/** Every client-side socket, so the test can kill them from the client's end. */
const clientSockets = new Set<NodeWebSocket>();
class TrackedWebSocket extends NodeWebSocket {
  constructor(...args: ConstructorParameters<typeof NodeWebSocket>) {
    super(...args);
    clientSockets.add(this);
    this.once("close", () => clientSockets.delete(this));
  }
}

function wsClientFor(url: string) {
  const wsClient = createWSClient({
    url: `${url.replace(/^http/, "ws")}/api/trpc-ws`,
    WebSocket: TrackedWebSocket as unknown as typeof WebSocket,
    retryDelayMs: () => 20,
  });
  const api = createTRPCClient<AppRouter>({
    links: [splitLink({ condition: (op) => op.type === "subscription", true: wsLink({ client: wsClient, transformer: superjson }), false: httpBatchLink({ url: `${url}/api/trpc`, transformer: superjson }) })],
  });
  return { api, close: () => wsClient.close() };
}

interface Subscriber {
  seqs: number[];
  problems: string[];
  /** Answer text rebuilt from chat.snapshot / chat.delta, by message id. */
  texts: Map<string, string>;
  /** Text rebuilt just before the final message.updated arrived. */
  finals: Map<string, string>;
  onEvent: (id: string, event: SessionEvent) => void;
}

function subscriber(): Subscriber {
  const s: Subscriber = { seqs: [], problems: [], texts: new Map(), finals: new Map(), onEvent: () => undefined };
  let last = 0;
  s.onEvent = (id, event) => {
    if (event.type === "chat.snapshot") {
      s.texts.set(event.messageId, event.text);
      return;
    }
    if (event.type === "chat.delta") {
      const have = s.texts.get(event.messageId) ?? "";
      if (event.offset !== have.length) s.problems.push(`delta at ${event.offset} but have ${have.length}`);
      else s.texts.set(event.messageId, have + event.text);
      return;
    }
    const seq = Number(id);
    if (seq !== last + 1) s.problems.push(`event ${seq} after ${last}`);
    last = seq;
    if (event.type === "message.created") s.seqs.push(event.message.seq);
    if (event.type === "message.updated" && event.message.status !== "streaming") {
      s.finals.set(event.message.id, s.texts.get(event.message.id) ?? "");
    }
  };
  return s;
}

it(`${SUBSCRIBERS} subscribers, ${MESSAGES} messages, a streaming answer and ≥${MIN_KILLS} kills: nothing lost, duplicated or stuck`, async () => {
  const poster = t.client();
  const session = await poster.api.session.create.mutate({ title: "chaos" });
  await poster.api.message.post.mutate({ sessionId: session.id, content: "the chaos codeword is tangerine" });

  const subs: Subscriber[] = [];
  const closers: (() => unknown)[] = [];
  const sseResubscribers: (() => void)[] = [];
  for (let i = 0; i < SUBSCRIBERS - SSE_SUBSCRIBERS; i++) {
    const s = subscriber();
    const client = wsClientFor(t.url);
    const sub = client.api.session.events.subscribe({ sessionId: session.id }, { onData: ({ id, data }) => s.onEvent(id, data), onError: (e) => s.problems.push(String(e)) });
    closers.push(() => sub.unsubscribe(), client.close);
    subs.push(s);
  }
  for (let i = 0; i < SSE_SUBSCRIBERS; i++) {
    const s = subscriber();
    const client = t.client({ transport: "sse" });
    let lastId: string | undefined;
    let sub: { unsubscribe: () => void } | null = null;
    // An SSE "kill": the stream is dropped and reopened from the last id, as EventSource does.
    const open = () => {
      sub?.unsubscribe();
      sub = client.api.session.events.subscribe(
        { sessionId: session.id, lastEventId: lastId },
        {
          onData: ({ id, data }) => {
            if (data.type !== "chat.delta" && data.type !== "chat.snapshot") lastId = id;
            s.onEvent(id, data);
          },
          onError: (e) => s.problems.push(String(e)),
        },
      );
    };
    open();
    sseResubscribers.push(open);
    closers.push(() => sub?.unsubscribe());
    subs.push(s);
  }
  await waitFor(() => t.server.deps.sessionStreams.subscriberCount >= SUBSCRIBERS, "all subscribed", 30_000);

  // Kill sockets at random from both ends while the load runs.
  let kills = 0;
  let loadDone = false;
  const killer = (async () => {
    while (!loadDone || kills < MIN_KILLS) {
      const r = Math.random();
      if (r < 0.4) {
        const server = [...t.server.wsServer.clients];
        const victim = server[Math.floor(Math.random() * server.length)];
        if (victim) {
          victim.terminate();
          kills++;
        }
      } else if (r < 0.8) {
        const client = [...clientSockets];
        const victim = client[Math.floor(Math.random() * client.length)];
        if (victim) {
          victim.terminate();
          kills++;
        }
      } else {
        sseResubscribers[Math.floor(Math.random() * sseResubscribers.length)]?.();
        kills++;
      }
      await new Promise((r2) => setTimeout(r2, 15));
    }
  })();

  const sent = await poster.api.chat.send.mutate({ sessionId: session.id, content: "what is the chaos codeword?" });
  for (let i = 0; i < MESSAGES; i += 100) {
    await Promise.all(range(i + 1, Math.min(i + 100, MESSAGES)).map((n) => poster.api.message.post.mutate({ sessionId: session.id, content: `m${n}` })));
  }
  loadDone = true;
  await killer;

  const persisted = await t.server.deps.db.message.findMany({ where: { sessionId: session.id }, orderBy: { seq: "asc" } });
  const answer = persisted.find((m) => m.id === sent.assistantMessageId);
  await waitFor(() => subs.every((s) => s.seqs.length === persisted.length && s.finals.has(sent.assistantMessageId)), "every subscriber to catch up", 120_000);
  const finalAnswer = await t.server.deps.db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } });
  expect(finalAnswer.status).toBe("complete");
  expect(answer).toBeDefined();

  const expected = persisted.map((m) => m.seq);
  let lost = 0;
  let duplicated = 0;
  let exact = 0;
  for (const s of subs) {
    expect(s.seqs).toEqual(expected);
    const seen = new Set(s.seqs);
    lost += expected.filter((seq) => !seen.has(seq)).length;
    duplicated += s.seqs.length - new Set(s.seqs).size;
    // The streamed text never disagrees with the final one: it is the whole of
    // it, or (when a reconnect straddled the end of the run, so the last
    // deltas were never re-sent) a prefix that the final message.updated completes.
    const rebuilt = s.finals.get(sent.assistantMessageId) ?? "";
    expect(finalAnswer.content.startsWith(rebuilt)).toBe(true);
    if (rebuilt === finalAnswer.content) exact++;
    expect(s.problems.filter((p) => !p.includes("TRPCClientError"))).toEqual([]);
  }
  expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
  console.log(`chaos: ${SUBSCRIBERS} subscribers (${SSE_SUBSCRIBERS} SSE), ${persisted.length} messages, ${kills} kills, lost ${lost}, duplicated ${duplicated}, stuck 0; answer rebuilt exactly from deltas by ${exact}/${subs.length} (the rest completed by the final message)`);
  for (const close of closers) await close();
}, 300_000);
