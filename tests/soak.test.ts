// Soak: connections, subscriptions and disconnects churn against the real
// server process for PARLEY_SOAK_SECONDS (CI: 120). RSS, live heap (after a
// full GC, through the inspector) and open file descriptors are sampled throughout; over the second
// half a least-squares line through each one's 10 s minima must be flat within
// its tolerance (`npm test` runs this file alone, after the others, so other
// suites' load does not pass for growth),
// and when the churn stops every connection and subscription is gone and the
// process holds no more file descriptors than before it began.
import fs from "node:fs";
import { afterAll, expect, it } from "vitest";
import { createParleyClient } from "../src/client";
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
const TOLERANCE_PER_MIN = { rssMiB: 40, liveHeapMiB: 3, fds: 2 };

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
  const before = descriptors(pid);

  // Every 2.5 s: RSS, non-socket descriptors, and the live heap (what
  // survives a full GC). Each sample costs the server one forced GC.
  const samples: { atMin: number; rssMiB: number; liveHeapMiB: number; fds: number }[] = [];
  const started = Date.now();
  let churns = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const liveHeapMiB = (await inspector.liveHeapBytes()) / 2 ** 20;
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      samples.push({ atMin: (Date.now() - started) / 60_000, rssMiB, liveHeapMiB, fds: descriptors(pid).other });
      await new Promise((r) => setTimeout(r, 2_500));
    }
  })();

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
  }
  sampling = false;
  await sampler;

  // Everything the churn opened is gone again.
  const idle = async () => {
    const health = (await (await fetch(`${server!.url}/api/health`)).json()) as { connections: number };
    return health.connections;
  };
  await expect.poll(idle, { timeout: 15_000 }).toBe(0);
  // Keep-alive sockets close within the server's keep-alive timeout (5 s);
  // after that the process holds what it held before the churn, or less.
  await expect.poll(() => descriptors(pid).sockets, { timeout: 15_000 }).toBeLessThanOrEqual(before.sockets);
  expect(descriptors(pid).other).toBeLessThanOrEqual(before.other);

  // What is in flight at a sample (connections mid-handshake, buffers) makes
  // noise; a leak raises the troughs, so fit the minimum of each 10 s window.
  const secondHalf = samples.filter((s) => s.atMin >= SECONDS / 120);
  const windows = new Map<number, typeof samples>();
  for (const s of secondHalf) {
    const key = Math.floor(s.atMin * 6);
    windows.set(key, [...(windows.get(key) ?? []), s]);
  }
  const troughs = [...windows.values()].map((w) => ({
    atMin: w.reduce((sum, s) => sum + s.atMin, 0) / w.length,
    rssMiB: Math.min(...w.map((s) => s.rssMiB)),
    liveHeapMiB: Math.min(...w.map((s) => s.liveHeapMiB)),
    fds: Math.min(...w.map((s) => s.fds)),
  }));
  const growth = {
    rssMiB: slope(troughs.map((s) => [s.atMin, s.rssMiB])),
    liveHeapMiB: slope(troughs.map((s) => [s.atMin, s.liveHeapMiB])),
    fds: slope(troughs.map((s) => [s.atMin, s.fds])),
  };
  console.log(
    `soak: ${SECONDS} s, ${churns} churn rounds (${churns * 8} connections, ${churns * 24} subscriptions); ` +
      `second-half growth per minute: RSS ${growth.rssMiB.toFixed(2)} MiB, live heap ${growth.liveHeapMiB.toFixed(2)} MiB, non-socket fds ${growth.fds.toFixed(2)}; ` +
      `RSS ${samples[0]?.rssMiB.toFixed(0)} → ${samples.at(-1)?.rssMiB.toFixed(0)} MiB, ` +
      `live heap ${samples[0]?.liveHeapMiB.toFixed(1)} → ${samples.at(-1)?.liveHeapMiB.toFixed(1)} MiB`,
  );
  expect(troughs.length).toBeGreaterThanOrEqual(Math.min(5, Math.floor(SECONDS / 20)));
  expect(growth.rssMiB).toBeLessThan(TOLERANCE_PER_MIN.rssMiB);
  expect(growth.liveHeapMiB).toBeLessThan(TOLERANCE_PER_MIN.liveHeapMiB);
  expect(growth.fds).toBeLessThan(TOLERANCE_PER_MIN.fds);
  inspector.close();
  await observer.close();
}, SECONDS * 1000 + 120_000);
