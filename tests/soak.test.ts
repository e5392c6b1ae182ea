// Soak: connections, subscriptions and disconnects churn against the real
// server process for PARLEY_SOAK_SECONDS (CI: 120). Every 5 s the server must
// come back to idle (no client connection, bus listeners at their idle count),
// and then RSS, the live heap (after a full GC, through the inspector) and
// open file descriptors are read; over the second half a least-squares line
// through each must be flat within its tolerance (`npm test` runs this file
// alone, after the others, so other suites' load does not pass for growth).
// When the churn stops, the process holds no more descriptors than before.
import fs from "node:fs";
import { afterAll, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { connectInspector } from "./helpers/inspector";
import { freshDatabase, spawnServer, type ServerProcess } from "./helpers/server";

const SECONDS = Number(process.env.PARLEY_SOAK_SECONDS ?? 120);
/**
 * Growth per minute allowed over the second half. The live heap is measured
 * exactly (after a full GC forced through the inspector), so its tolerance is
 * tight; RSS follows the allocator and is looser. Bounded buffers (the metrics
 * history, replay rings) are made small here so they are full before the
 * second half begins: a full ring is not a leak.
 */
const TOLERANCE_PER_MIN = { rssMiB: 40, liveHeapMiB: 2, fds: 2 };

/**
 * Open descriptors of a process, sockets apart from the rest. Sockets are
 * what churn opens by design (and HTTP keep-alive holds some for seconds after
 * a client leaves), so under churn their count says nothing about leaks: they
 * are checked once the churn stops. Files, pipes and the like should never move.
 */
function descriptors(pid: number): { sockets: number; other: number } {
  let sockets = 0;
  let other = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between listing and reading
    }
    if (target.startsWith("socket:")) sockets++;
    else other++;
  }
  return { sockets, other };
}

let server: ServerProcess | undefined;
let dbDir: string | undefined;
afterAll(() => {
  server?.child.kill("SIGKILL");
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

/** Slope of y over x (least squares), per unit of x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

it(`keeps memory, file descriptors and subscriptions flat under ${SECONDS} s of churn`, async () => {
  const db = freshDatabase();
  dbDir = db.dir;
  server = await spawnServer({
    DATABASE_URL: db.url,
    LOG_LEVEL: "warn",
    METRICS_SAMPLE_MS: "500",
    METRICS_HISTORY_MS: "20000",
    NODE_OPTIONS: "--max-old-space-size=256 --inspect=127.0.0.1:0",
  });
  const pid = server.child.pid ?? 0;
  const inspector = await connectInspector(server.output);
  const observer = createParleyClient({ url: server.url });
  const session = await observer.api.session.create.mutate({ title: "soak" });
  // The web app is prepared on the first page request (WEB_PREPARE_DELAY_MS): ask for one, so the
  // baseline is the whole server's and Next's own descriptors are not counted as growth later.
  await (await fetch(server.url)).text();
  const before = descriptors(pid);
  const health = async () =>
    (await (await fetch(`${server!.url}/api/health`)).json()) as { connections: number; bus: { listeners: number } };
  const idleListeners = (await health()).bus.listeners;

  // Every 5 s the churn pauses until the server is quiet again (no WebSocket
  // connection, bus listeners back to idle; the observer only uses HTTP), then the test reads what
  // survived: the live heap after a forced full GC, RSS, and non-socket
  // descriptors. Sampling at quiet points keeps in-flight connections out of the figures.
  const samples: { atMin: number; rssMiB: number; liveHeapMiB: number; fds: number }[] = [];
  const started = Date.now();
  const quiet = async () => {
    await expect.poll(async () => (await health()).connections, { timeout: 15_000 }).toBe(0);
    await expect.poll(async () => (await health()).bus.listeners, { timeout: 15_000 }).toBe(idleListeners);
  };
  const sample = async () => {
    const liveHeapMiB = (await inspector.liveHeapBytes()) / 2 ** 20;
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    samples.push({ atMin: (Date.now() - started) / 60_000, rssMiB, liveHeapMiB, fds: descriptors(pid).other });
  };
  let churns = 0;
  let nextSample = started + 5_000;

  while (Date.now() - started < SECONDS * 1000) {
    const clients = Array.from({ length: 8 }, (_, i) => createParleyClient({ url: server!.url, transport: i % 4 === 3 ? "sse" : "ws" }));
    const subs = clients.flatMap((c) => [
      c.api.session.events.subscribe({ sessionId: session.id, lastEventId: "0" }, {}),
      c.api.events.subscribe.subscribe({ replay: 5 }, {}),
      c.api.metrics.live.subscribe({ resolutionMs: 1000 }, {}),
    ]);
    await clients[0]?.api.message.post.mutate({ sessionId: session.id, content: `churn ${churns}` });
    await new Promise((r) => setTimeout(r, 150));
    for (const s of subs) s.unsubscribe();
    await Promise.all(clients.map((c) => c.close()));
    churns++;
    if (Date.now() >= nextSample) {
      await quiet();
      await sample();
      nextSample = Date.now() + 5_000;
    }
  }

  // Everything the churn opened is gone again.
  await quiet();
  // Keep-alive sockets close within the server's keep-alive timeout (5 s);
  // after that the process holds what it held before the churn, or less.
  await expect.poll(() => descriptors(pid).sockets, { timeout: 15_000 }).toBeLessThanOrEqual(before.sockets);
  expect(descriptors(pid).other).toBeLessThanOrEqual(before.other);

  const secondHalf = samples.filter((s) => s.atMin >= SECONDS / 120);
  const growth = {
    rssMiB: slope(secondHalf.map((s) => [s.atMin, s.rssMiB])),
    liveHeapMiB: slope(secondHalf.map((s) => [s.atMin, s.liveHeapMiB])),
    fds: slope(secondHalf.map((s) => [s.atMin, s.fds])),
  };
  console.log(
    `soak: ${SECONDS} s, ${churns} churn rounds (${churns * 8} connections, ${churns * 24} subscriptions); ` +
      `second-half growth per minute: RSS ${growth.rssMiB.toFixed(2)} MiB, live heap ${growth.liveHeapMiB.toFixed(2)} MiB, non-socket fds ${growth.fds.toFixed(2)}; bus listeners back to ${idleListeners} at every sample; ` +
      `RSS ${samples[0]?.rssMiB.toFixed(0)} → ${samples.at(-1)?.rssMiB.toFixed(0)} MiB, ` +
      `live heap ${samples[0]?.liveHeapMiB.toFixed(1)} → ${samples.at(-1)?.liveHeapMiB.toFixed(1)} MiB`,
  );
  expect(secondHalf.length).toBeGreaterThanOrEqual(Math.min(5, Math.floor(SECONDS / 20)));
  expect(growth.rssMiB).toBeLessThan(TOLERANCE_PER_MIN.rssMiB);
  expect(growth.liveHeapMiB).toBeLessThan(TOLERANCE_PER_MIN.liveHeapMiB);
  expect(growth.fds).toBeLessThan(TOLERANCE_PER_MIN.fds);
  inspector.close();
  await observer.close();
}, SECONDS * 1000 + 120_000);
