// Keeps the benchmark code from rotting: every scenario runs at tiny sizes
// against all three servers. No timing assertions (benchmarks are not tests).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./helpers/server";

describe("npm run bench -- --smoke", () => {
  it("runs every scenario against Parley, ws and Socket.IO and writes a table, JSON and a chart", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke"], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 240_000,
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain("| scenario | metric | Parley | ws | Socket.IO |");
    const json = JSON.parse(fs.readFileSync(path.join(repoRoot, "bench", "results", "smoke.json"), "utf8")) as {
      rows: { scenario: string; values: Record<string, number> }[];
    };
    const scenarios = new Set(json.rows.map((r) => r.scenario.split(",")[0]));
    expect([...scenarios]).toEqual(expect.arrayContaining(["fan-out", "latency", "persisted writes", "slow consumer"]));
    for (const row of json.rows) expect(Number.isFinite(row.values.parley)).toBe(true);
    expect(fs.existsSync(path.join(repoRoot, "bench", "results", "smoke.png"))).toBe(true);
  }, 300_000);

  it("runs the memory scenario (npm run bench -- memory --smoke): recall, store and message.post rows", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "memory", "--smoke"], { cwd: repoRoot, encoding: "utf8", timeout: 240_000 });
    expect(result.status, result.stderr).toBe(0);
    for (const row of ["recall, text only", "recall, hybrid", "brute-force cosine", "memory.store throughput", "message.post while"]) expect(result.stdout).toContain(row);
  }, 300_000);
});
