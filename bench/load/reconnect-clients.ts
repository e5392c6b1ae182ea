// A worker thread of the reconnect scenario (bench/reconnect.ts): `count` SDK
// clients (createParleyClient with its default reconnect schedule), each
// subscribed to one session's events. After the server is killed it records,
// per client, when its WebSocket opened again and when the event `resumeSeq`
// (posted right after the restart) reached it.
import { parentPort, workerData } from "node:worker_threads";
import { createParleyClient } from "@parley/client";

interface Data {
  port: number;
  sessionId: string;
  count: number;
}

type Command = { type: "killed"; resumeSeq: number } | { type: "report" } | { type: "close" };

const { port, sessionId, count } = workerData as Data;
const port_ = parentPort;
if (!port_) throw new Error("reconnect-clients runs as a worker thread");

let resumeSeq = Number.POSITIVE_INFINITY;
let killed = false;
const clients = Array.from({ length: count }, () => {
  const client = createParleyClient({ url: `http://127.0.0.1:${port}` });
  const state = { lastSeq: 0, openedAt: null as number | null, resumedAt: null as number | null };
  client.connectionState.subscribe((s) => {
    if (killed && s.state === "open") state.openedAt ??= Date.now();
  });
  client.api.session.events.subscribe(
    { sessionId },
    {
      onData: ({ id }) => {
        const seq = Number(id);
        state.lastSeq = Math.max(state.lastSeq, seq);
        if (seq >= resumeSeq) state.resumedAt ??= Date.now();
      },
    },
  );
  return { client, state };
});

// Ready once every client holds the session's first event.
const readyCheck = setInterval(() => {
  if (clients.every((c) => c.state.lastSeq >= 1)) {
    clearInterval(readyCheck);
    port_.postMessage({ type: "ready" });
  }
}, 20);

port_.on("message", (command: Command) => {
  if (command.type === "killed") {
    killed = true;
    resumeSeq = command.resumeSeq;
  } else if (command.type === "report") {
    port_.postMessage({
      type: "report",
      openedAt: clients.map((c) => c.state.openedAt),
      resumedAt: clients.map((c) => c.state.resumedAt),
    });
  } else {
    void Promise.all(clients.map((c) => c.client.close())).then(() => process.exit(0));
  }
});
