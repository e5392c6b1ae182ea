// Memory benchmark (`npm run bench -- memory`, runs only when named; `--smoke`
// for a small size, `--size N` for one): recall p50/p99 at 10,000 and 100,000 memories, text-only
// and hybrid (a local embeddings server, 384-dimension vectors), store
// throughput, message.post throughput alone and while memories are stored,
// and per query at each size the exact cosine scan and the vector index (time
// and recall against exact). A real server on
// port 0 over a real SQLite file; calls over HTTP with the SDK.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { createParleyClient } from "@parley/client";
import { startServer } from "../src/server/app";
import { parseConfig } from "../src/server/env";
import { random } from "../src/server/realtime/faults";
import { unitVector, vectorToBytes } from "../src/server/memory/embeddings";
import { EXACT_SCAN_MAX } from "../src/server/memory/vectors";
import { percentile } from "./stats";
import { migratedTemplate } from "./targets";

const smoke = process.argv.includes("--smoke");
const sizeArg = process.argv.indexOf("--size");
/** `--size 100000`: one size only. */
const SIZES = sizeArg >= 0 ? [Number(process.argv[sizeArg + 1])] : smoke ? [1_000] : [10_000, 100_000];
const QUERIES = smoke ? 50 : 300;
const STORES = smoke ? 200 : 2_000;
const POSTS = smoke ? 300 : 3_000;
const WRITERS = 8;
/** An agent's pace: memories stored (and recalls) per second beside message.post. */
const STORE_RATE = 20;
const DIMENSIONS = 384;
const VOCABULARY = 5_000;

const words = Array.from({ length: VOCABULARY }, (_, i) => `w${i.toString(36)}x`);
/** A Zipf-like pick: low ranks far more often (natural text). */
const zipf = (next: () => number) => words[Math.min(VOCABULARY - 1, Math.floor(Math.exp(next() * Math.log(VOCABULARY))) - 1)] ?? "w0x";

/** The bench's embeddings: each word a fixed random direction, a text their sum. */
const wordVectors = new Map<string, Float32Array>();
function embed(text: string): Float32Array {
  const sum = new Float32Array(DIMENSIONS);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let v = wordVectors.get(word);
    if (!v) {
      let hash = 0;
      for (const c of word) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
      const next = random(hash);
      v = Float32Array.from({ length: DIMENSIONS }, () => next() - 0.5);
      wordVectors.set(word, v);
    }
    for (let i = 0; i < DIMENSIONS; i++) sum[i] = (sum[i] ?? 0) + (v[i] ?? 0);
  }
  return unitVector(sum);
}

async function embeddingsServer() {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const input = (JSON.parse(body) as { input: string[] }).input;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data: input.map((text, index) => ({ index, embedding: [...embed(text)] })) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** `n` memories written straight into the file (the FTS triggers index them), with vectors of the bench model. */
function seed(file: string, n: number) {
  const db = new Database(file);
  const next = random(42);
  const insert = db.prepare(
    `INSERT INTO "Memory" ("id", "content", "metadata", "scope", "visibility", "embedding", "embeddingModel", "embeddedAt", "updatedAt") VALUES (?, ?, '{}', 'global', 'public', ?, 'openai:bench', ?, ?)`,
  );
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const length = 20 + Math.floor(next() * 20);
      const content = Array.from({ length }, () => zipf(next)).join(" ");
      insert.run(`bench${i}`, content, vectorToBytes(embed(content)), now, now);
    }
  })();
  db.close();
}

const ms = (v: number) => Math.round(v * 100) / 100;

async function timed<T>(count: number, call: (i: number) => Promise<T>) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await call(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: ms(percentile(times, 50)), p99: ms(percentile(times, 99)) };
}

async function rate(total: number, writers: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let issued = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    while (issued < total) await call(issued++);
  }));
  return Math.round(total / ((performance.now() - started) / 1000));
}

const rows: string[] = [];
const embeddings = await embeddingsServer();
const template = migratedTemplate();
try {
  for (const n of SIZES) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-bench-memory-"));
    const file = path.join(dir, "parley.db");
    fs.copyFileSync(template.file, file);
    const seeding = performance.now();
    seed(file, n);
    const seededS = (performance.now() - seeding) / 1000;
    const config = parseConfig({
      NODE_ENV: "test", LOG_LEVEL: "silent", PARLEY_AUTH: "off", PORT: "0", DATABASE_URL: `file:${file}`,
      EMBEDDINGS_PROVIDER: "openai", EMBEDDINGS_BASE_URL: embeddings.url, EMBEDDINGS_MODEL: "bench",
      MEMORY_WRITES_PER_MINUTE: "1000000", RATE_LIMIT_PER_CONNECTION: "1000000", RATE_LIMIT_PER_PRINCIPAL: "1000000",
    });
    const server = await startServer({ config });
    await server.deps.memory.embedder?.loaded;
    const client = createParleyClient({ url: server.url });
    const next = random(7);
    const queries = Array.from({ length: QUERIES }, () => Array.from({ length: 2 + Math.floor(next() * 2) }, () => zipf(next)).join(" "));
    // Warm-up, then measured.
    for (const q of queries.slice(0, 20)) await client.api.memory.recall.query({ query: q, mode: "hybrid" });
    const text = await timed(QUERIES, (i) => client.api.memory.recall.query({ query: queries[i] ?? "", mode: "text" }));
    const hybrid = await timed(QUERIES, (i) => client.api.memory.recall.query({ query: queries[i] ?? "", mode: "hybrid" }));
    const index = server.deps.memory.index;
    const vectors = queries.map((q) => embed(q));
    const probes = Math.min(QUERIES, 100);
    const brute = await timed(probes, (i) => Promise.resolve(index.exactNearest(vectors[i] ?? new Float32Array(DIMENSIONS), 160)));
    const indexed = await timed(probes, (i) => Promise.resolve(index.nearest(vectors[i] ?? new Float32Array(DIMENSIONS), 160)));
    // Quality: the share of the exact 10 (and 160) nearest that the index returns.
    let found10 = 0;
    let found160 = 0;
    for (const vector of vectors.slice(0, probes)) {
      const exact = index.exactNearest(vector, 160);
      const got = new Set(index.nearest(vector, 160).map((n) => n.seq));
      found10 += exact.slice(0, 10).filter((n) => got.has(n.seq)).length / Math.min(10, exact.length || 1);
      found160 += exact.filter((n) => got.has(n.seq)).length / (exact.length || 1);
    }
    // The in-process loops above held the event loop past the server's keep-alive timeout: let the server close its idle
    // sockets and the client see it (fetch's pool is shared, so a new client would not help), or the next call meets one.
    await new Promise((resolve) => setTimeout(resolve, 500));
    rows.push(`| ${n.toLocaleString("en-US")} memories (seeded in ${seededS.toFixed(1)} s) | recall, text only | ${text.p50} | ${text.p99} |`);
    rows.push(`| ${n.toLocaleString("en-US")} memories | recall, hybrid (text + ${DIMENSIONS}-d vectors, RRF) | ${hybrid.p50} | ${hybrid.p99} |`);
    rows.push(`| ${n.toLocaleString("en-US")} memories | brute-force cosine, ${index.size.toLocaleString("en-US")} vectors, top 160 (in process) | ${brute.p50} | ${brute.p99} |`);
    rows.push(`| ${n.toLocaleString("en-US")} memories | vector index (${index.size > EXACT_SCAN_MAX ? "sign estimate + exact rerank" : "exact"}), top 160 (in process); recall@10 ${(found10 / probes).toFixed(3)}, recall@160 ${(found160 / probes).toFixed(3)} | ${indexed.p50} | ${indexed.p99} |`);

    if (n === SIZES[0]) {
      const session = await client.api.session.create.mutate({ title: "bench" });
      const postAlone = await rate(POSTS, WRITERS, (i) => client.api.message.post.mutate({ sessionId: session.id, content: `post ${i} ${"x".repeat(180)}` }));
      const stores = await rate(STORES, WRITERS, (i) => client.api.memory.store.mutate({ content: `stored ${i} ${queries[i % QUERIES] ?? ""}` }));
      // message.post again while other clients store memories all along.
      let storing = true;
      const background = Promise.all(Array.from({ length: 2 }, async () => {
        let i = 0;
        while (storing) await client.api.memory.store.mutate({ content: `background ${i++}` });
      }));
      const postWhileStoring = await rate(POSTS, WRITERS, (i) => client.api.message.post.mutate({ sessionId: session.id, content: `post ${i} ${"x".repeat(180)}` }));
      storing = false;
      await background;
      const postAfter = await rate(POSTS, WRITERS, (i) => client.api.message.post.mutate({ sessionId: session.id, content: `again ${i} ${"x".repeat(180)}` }));
      // ... and while memories are stored at an agent's pace (STORE_RATE per second), with recalls at the same pace.
      let paced = true;
      const pacer = (async () => {
        for (let i = 0; paced; i++) {
          const started = performance.now();
          await client.api.memory.store.mutate({ content: `paced ${i} ${queries[i % QUERIES] ?? ""}` });
          await client.api.memory.recall.query({ query: queries[i % QUERIES] ?? "", mode: "text" });
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 / STORE_RATE - (performance.now() - started))));
        }
      })();
      const postWhilePaced = await rate(POSTS, WRITERS, (i) => client.api.message.post.mutate({ sessionId: session.id, content: `paced ${i} ${"x".repeat(180)}` }));
      paced = false;
      await pacer;
      rows.push(`| ${WRITERS} HTTP clients | memory.store throughput | ${stores.toLocaleString("en-US")} /s | |`);
      rows.push(`| ${WRITERS} HTTP clients | message.post alone, before / after | ${postAlone.toLocaleString("en-US")} / ${postAfter.toLocaleString("en-US")} /s | |`);
      const alone = (postAlone + postAfter) / 2;
      rows.push(`| ${WRITERS} HTTP clients | message.post while 2 clients store memories flat out | ${postWhileStoring.toLocaleString("en-US")} /s | ${Math.round((postWhileStoring / alone) * 100)} % of alone |`);
      rows.push(`| ${WRITERS} HTTP clients | message.post while ${STORE_RATE} memories/s are stored and recalled | ${postWhilePaced.toLocaleString("en-US")} /s | ${Math.round((postWhilePaced / alone) * 100)} % of alone |`);
    }
    await client.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
} finally {
  await embeddings.close();
  template.remove();
}

const table = ["| size | measure | p50 (ms) | p99 (ms) |", "|---|---|--:|--:|", ...rows].join("\n");
console.log(table);
if (!smoke && sizeArg < 0) fs.writeFileSync(path.join(import.meta.dirname, "results", "memory.md"), `# npm run bench -- memory (${new Date().toISOString().slice(0, 10)})\n\n${table}\n`);
