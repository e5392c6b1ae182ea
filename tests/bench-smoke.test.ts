// Keeps the benchmark code from rotting: every scenario runs at tiny sizes
// against all four servers. No timing assertions (benchmarks are not tests).
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { scaleOutMissing } from "../bench/scale-out";
import { runBounded } from "./helpers/command";
import { repoRoot } from "./helpers/server";

describe("npm run bench -- --smoke", () => {
  it("runs every scenario against Parley, ws (prepared and as commonly written) and Socket.IO and writes a table, JSON and a chart", async () => {
    const result = await runBounded(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke"], { cwd: repoRoot, timeoutMs: 360_000 });
    expect(result.timedOut, "the smoke run did not finish within 6 min").toBe(false);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("| scenario | metric | Parley | ws, prepared | ws | Socket.IO | Parley/ws, prepared | Parley/ws | Parley/Socket.IO |");
    const json = JSON.parse(fs.readFileSync(path.join(repoRoot, "bench", "results", "smoke.json"), "utf8")) as {
      rows: { scenario: string; metric: string; unit: string; values: Record<string, number> }[];
    };
    const scenarios = new Set(json.rows.map((r) => r.scenario.split(",")[0]));
    expect([...scenarios]).toEqual(expect.arrayContaining(["fan-out", "latency", "persisted writes", "subscriber side", "post → delivered", "slow consumer", "200 subscribed connections"]));
    // The scale-out scenario needs Redis, PostgreSQL and nginx (CI installs them; elsewhere it is skipped, saying why).
    if (!scaleOutMissing()) expect([...scenarios]).toEqual(expect.arrayContaining(["scale-out"]));
    else expect(result.stderr).toContain("[scaleout skipped:");
    // Every measured row has a figure, Parley's wherever Parley was measured (the raw-ws client row has only its
    // baseline); ratios (unit ×) may be 0/0 at these sizes (CPU clock ticks of 10 ms).
    for (const row of json.rows.filter((r) => r.unit !== "×")) {
      const what = `${row.scenario}: ${row.metric}`;
      if ("parley" in row.values) expect(Number.isFinite(row.values.parley), what).toBe(true);
      else expect(Object.values(row.values).some(Number.isFinite), what).toBe(true);
    }
    const fanout = json.rows.find((r) => r.scenario.startsWith("fan-out"));
    for (const target of ["wsPrepared", "ws", "socketio"]) expect(Number.isFinite(fanout?.values[target]), target).toBe(true);
    expect(fs.existsSync(path.join(repoRoot, "bench", "results", "smoke.png"))).toBe(true);
  }, 420_000);

  it("runs the memory scenario (npm run bench -- memory --smoke): recall, vector search, store and message.post rows", async () => {
    const result = await runBounded(process.execPath, ["--import", "tsx", "bench/run.ts", "memory", "--smoke"], { cwd: repoRoot, timeoutMs: 240_000 });
    expect(result.timedOut, "the memory smoke run did not finish within 4 min").toBe(false);
    expect(result.code, result.stderr).toBe(0);
    for (const row of ["recall, text only", "recall, hybrid", "brute-force cosine", "vector index", "memory.store throughput", "message.post while"]) expect(result.stdout).toContain(row);
  }, 300_000);
});
