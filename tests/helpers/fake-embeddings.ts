// A real local HTTP server standing in for an embeddings model: OpenAI's
// `POST /v1/embeddings` and Ollama's `POST /api/embed`. Its "meaning" is a
// small table of concepts: each word adds to the dimension of its concept, so
// texts about the same concept in different words ("ship the release",
// "deploy window") are close, and unrelated ones are not. Tests can make it
// fail the next requests, or stop it (the server is down).
import http from "node:http";
import { serveOnLoopback } from "./chat-fakes";

/** Words per concept; a word of none adds to a hashed "other" dimension. */
const CONCEPTS: readonly (readonly string[])[] = [
  ["ship", "shipping", "release", "releases", "deploy", "deployment", "deploys", "window", "launch", "rollout", "when", "schedule"],
  ["lunch", "food", "noon", "cafeteria", "eat", "menu", "pizza"],
  ["vault", "code", "password", "secret", "door"],
  ["weather", "rain", "sunny", "umbrella", "forecast"],
];
export const FAKE_DIMENSIONS = 16;

/** The fake's vector for `text` (not normalised: the server normalises). */
export function fakeEmbedding(text: string): number[] {
  const vector: number[] = Array.from({ length: FAKE_DIMENSIONS }, () => 0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const concept = CONCEPTS.findIndex((words) => words.includes(word));
    if (concept >= 0) vector[concept] = (vector[concept] ?? 0) + 3;
    else {
      let hash = 0;
      for (const char of word) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
      const slot = CONCEPTS.length + (hash % (FAKE_DIMENSIONS - CONCEPTS.length));
      vector[slot] = (vector[slot] ?? 0) + 0.5;
    }
  }
  if (!vector.some((v) => v !== 0)) vector[FAKE_DIMENSIONS - 1] = 1;
  return vector;
}

export interface FakeEmbeddings {
  url: string;
  /** Texts embedded, per request, in order. */
  requests: { path: string; input: string[] }[];
  /** Answer this many next requests with HTTP 500. */
  failNext: number;
  close(): Promise<void>;
}

export async function startFakeEmbeddings(port = 0): Promise<FakeEmbeddings> {
  const fake: FakeEmbeddings = { url: "", requests: [], failNext: 0, close: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const path = req.url ?? "/";
      const parsed = JSON.parse(body || "{}") as { input?: string | string[] };
      const input = Array.isArray(parsed.input) ? parsed.input : [parsed.input ?? ""];
      fake.requests.push({ path, input });
      if (fake.failNext > 0) {
        fake.failNext--;
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"model is loading"}');
        return;
      }
      const vectors = input.map(fakeEmbedding);
      res.writeHead(200, { "content-type": "application/json" });
      if (path === "/v1/embeddings") res.end(JSON.stringify({ object: "list", data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })) }));
      else if (path === "/api/embed") res.end(JSON.stringify({ model: "fake", embeddings: vectors }));
      else res.writeHead(404).end();
    });
  });
  Object.assign(fake, await serveOnLoopback(server, port));
  return fake;
}
