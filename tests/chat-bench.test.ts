// Smoke test of `npm run bench:chat`: it runs end to end (Parley's production
// server in its own process, readers in worker threads) and prints its table
// (no timing assertions: times depend on the machine).
import { expect, inject, it } from "vitest";
import { runChatBench } from "../bench/chat";

it("bench:chat streams through Parley to subscribers and prints a markdown table", async () => {
  const table = await runChatBench({ subscribers: [1, 3], tokens: 20, rate: 500, rounds: 2, templateDb: inject("templateDb") });
  const lines = table.split("\n");
  expect(lines).toContain("| subscribers | tokens | tokens/s | direct p50 | direct p99 | Parley p50 | Parley p99 | added p50 | added p99 | direct TTFT | Parley TTFT | added TTFT |");
  expect(lines.filter((l) => /^\| [13] \| 20 \| 500 \| [\d.-]+ \|/.test(l))).toHaveLength(2);
  expect(table).not.toContain("n/a");
}, 120_000);
