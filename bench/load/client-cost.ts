// A load process of its own (not a worker thread, so its CPU time can be read
// from /proc): `count` subscribers of one kind, counting what they receive.
// It prints READY once all are subscribed; each line "report" on stdin is
// answered with "COUNT <n>"; "stop" closes everything and exits.
//   ws          a raw `ws` client of the plain-ws baseline: JSON.parse each frame
//   raw         a raw `ws` client of Parley's session.events: JSON.parse each frame
//   trpc        @trpc/client's wsLink with superjson: api.session.events.subscribe
//   tail        the SDK as a user runs it: createParleyClient(...).tail(sessionId)
import readline from "node:readline";
import { createTRPCClient, createWSClient, wsLink } from "@trpc/client";
import superjson from "superjson";
import WebSocket from "ws";
import { z } from "zod";
import { createParleyClient } from "@parley/client";
import type { AppRouter } from "../../src/server/routers/_app";
import { CLIENT_KINDS } from "../client";

const args = z
  .tuple([z.enum(CLIENT_KINDS), z.coerce.number().int(), z.string(), z.coerce.number().int().min(1)])
  .parse(process.argv.slice(2));
const [kind, port, channel, count] = args;
const url = `http://127.0.0.1:${port}`;
let received = 0;
const closers: (() => Promise<void>)[] = [];

/** A raw WebSocket subscriber that parses every frame, as a hand-written client does. */
function rawSocket(address: string, subscribe: string, subscribed: (message: unknown) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(address, { perMessageDeflate: false });
    let ready = false;
    socket.on("open", () => socket.send(subscribe));
    socket.on("message", (data: Buffer) => {
      const text = data.toString();
      if (text === "PING") return socket.send("PONG");
      const message: unknown = JSON.parse(text);
      if (ready) received++;
      else if (subscribed(message)) {
        ready = true;
        resolve();
      }
    });
    socket.on("error", reject);
    closers.push(() => {
      socket.terminate();
      return Promise.resolve();
    });
  });
}

const isStarted = (message: unknown) => typeof message === "object" && message !== null && JSON.stringify(message).includes('"started"');

async function openOne(): Promise<void> {
  switch (kind) {
    case "ws":
      return rawSocket(`ws://127.0.0.1:${port}`, JSON.stringify({ sub: channel }), () => true);
    case "raw":
      return rawSocket(
        `ws://127.0.0.1:${port}/api/trpc-ws`,
        JSON.stringify({ id: 1, method: "subscription", params: { path: "session.events", input: { json: { sessionId: channel } } } }),
        isStarted,
      );
    case "trpc": {
      const wsClient = createWSClient({ url: `ws://127.0.0.1:${port}/api/trpc-ws`, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
      const api = createTRPCClient<AppRouter>({ links: [wsLink<AppRouter>({ client: wsClient, transformer: superjson })] });
      await new Promise<void>((resolve, reject) => {
        const sub = api.session.events.subscribe(
          { sessionId: channel },
          { onStarted: () => resolve(), onData: () => void received++, onError: reject },
        );
        closers.push(() => {
          sub.unsubscribe();
          return wsClient.close();
        });
      });
      return;
    }
    case "tail": {
      const client = createParleyClient({ url });
      const stop = new AbortController();
      // tail({ from: "end" }) reads the session first, then subscribes: ready once that read is answered.
      const events = client.tail(channel, { from: "end", signal: stop.signal });
      const first = events.next();
      void (async () => {
        if ((await first).done) return;
        received++;
        for await (const _item of events) received++;
      })();
      closers.push(async () => {
        stop.abort();
        await client.close();
      });
      // The subscription is live once the server sees it: wait for the socket, then a moment for the subscribe.
      await new Promise((resolve) => setTimeout(resolve, 50));
      return;
    }
  }
}

const BATCH = 50;
for (let i = 0; i < count; i += BATCH) await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => openOne()));
console.log("READY");

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "report") {
    console.log(`COUNT ${received}`);
    return;
  }
  if (line === "stop") void Promise.all(closers.map((close) => close())).finally(() => process.exit(0));
});
