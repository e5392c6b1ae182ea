// Real local HTTP servers standing in for chat providers: an OpenAI-compatible
// SSE server and an Ollama NDJSON server. Each test scripts the next answer;
// the fakes record requests and whether the client closed the connection
// before the answer ended (what `chat.stop` must cause).
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRequest {
  path: string;
  body: unknown;
  /** The client closed the connection before the fake finished answering. */
  abortedByClient: boolean;
  /** Text chunks written so far. */
  written: string[];
}

/** How the fake answers one request. */
export type FakeAnswer =
  | {
      kind: "tokens";
      tokens: readonly string[];
      /** Pause before each token (ms). */
      intervalMs?: number;
      /** OpenAI: send the usage chunk (default true). */
      usage?: boolean;
      finishReason?: string;
      /** Keep streaming `filler` forever after the tokens (until the client leaves). */
      endless?: boolean;
    }
  | { kind: "status"; status: number; body: string }
  | { kind: "malformed"; tokens: readonly string[] }
  | { kind: "stall"; tokens: readonly string[] }
  /** After the tokens, the provider's own error object in the stream (Ollama `{"error"}` line, OpenAI `data: {"error"}`). */
  | { kind: "error"; tokens: readonly string[]; message: string }
  /** A 200 stream whose whole body is `body`, as written (frames of your own making). */
  | { kind: "raw"; body: string };

export interface FakeProvider {
  url: string;
  /** Completion requests (model-list requests are in `modelListRequests`). */
  requests: FakeRequest[];
  /** What `GET /v1/models` (OpenAI) or `GET /api/tags` (Ollama) lists. */
  models: string[];
  /** Each model-list request: its path and Authorization header. */
  modelListRequests: { path: string; authorization: string | undefined }[];
  /** Answers for the next requests, in order; the last one repeats. */
  answers: FakeAnswer[];
  /** Emission time (performance.now()) of each token of the most recent request. */
  emittedAt: number[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Dialect = "openai" | "ollama";

function frame(dialect: Dialect, text: string): string {
  if (dialect === "openai") {
    return `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`;
  }
  return `${JSON.stringify({ model: "fake", message: { role: "assistant", content: text }, done: false })}\n`;
}

function finalFrames(dialect: Dialect, answer: Extract<FakeAnswer, { kind: "tokens" }>, count: number): string {
  const reason = answer.finishReason ?? "stop";
  if (dialect === "openai") {
    let out = `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: reason }] })}\n\n`;
    if (answer.usage !== false) out += `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 11, completion_tokens: count } })}\n\n`;
    return `${out}data: [DONE]\n\n`;
  }
  return `${JSON.stringify({ model: "fake", message: { role: "assistant", content: "" }, done: true, done_reason: reason, prompt_eval_count: 11, eval_count: count, eval_duration: count * 10_000_000 })}\n`;
}

async function startFake(dialect: Dialect): Promise<FakeProvider> {
  const requests: FakeRequest[] = [];
  const fake: FakeProvider = {
    url: "",
    requests,
    models: ["fake-model-a", "fake-model-b"],
    modelListRequests: [],
    answers: [],
    emittedAt: [],
    close: () => Promise.resolve(),
  };
  const server = http.createServer((req, res) => {
    const modelListPath = dialect === "openai" ? "/v1/models" : "/api/tags";
    if (req.method === "GET" && req.url === modelListPath) {
      fake.modelListRequests.push({ path: req.url, authorization: req.headers.authorization });
      const body =
        dialect === "openai"
          ? { object: "list", data: fake.models.map((id) => ({ id, object: "model", owned_by: "fake" })) }
          : { models: fake.models.map((name) => ({ name, model: name, size: 1 })) };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
      return;
    }
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const record: FakeRequest = { path: req.url ?? "", body: JSON.parse(raw || "null") as unknown, abortedByClient: false, written: [] };
      requests.push(record);
      res.on("close", () => {
        if (!res.writableFinished) record.abortedByClient = true;
      });
      const answer = fake.answers.length > 1 ? fake.answers.shift() : fake.answers[0];
      void respond(answer ?? { kind: "tokens", tokens: ["ok"] }, record, res);
    });
  });

  async function respond(answer: FakeAnswer, record: FakeRequest, res: http.ServerResponse) {
    if (answer.kind === "status") {
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(answer.body);
      return;
    }
    res.writeHead(200, { "content-type": dialect === "openai" ? "text/event-stream" : "application/x-ndjson" });
    if (answer.kind === "raw") {
      res.end(answer.body);
      return;
    }
    const write = (text: string, data: string) => {
      if (res.destroyed) return false;
      record.written.push(text);
      res.write(data);
      return true;
    };
    fake.emittedAt = [];
    for (const token of answer.tokens) {
      if (answer.kind === "tokens" && answer.intervalMs) await sleep(answer.intervalMs);
      fake.emittedAt.push(performance.now());
      if (!write(token, frame(dialect, token))) return;
    }
    if (answer.kind === "stall") return; // never ends, never closes
    if (answer.kind === "error") {
      res.end(dialect === "openai" ? `data: ${JSON.stringify({ error: { message: answer.message } })}\n\n` : `${JSON.stringify({ error: answer.message })}\n`);
      return;
    }
    if (answer.kind === "malformed") {
      res.end(dialect === "openai" ? "data: {not json\n\n" : "{not json\n");
      return;
    }
    if (answer.endless) {
      while (!res.destroyed) {
        await sleep(answer.intervalMs ?? 10);
        write("more ", frame(dialect, "more "));
      }
      return;
    }
    res.end(finalFrames(dialect, answer, answer.tokens.length));
  }

  Object.assign(fake, await serveOnLoopback(server));
  return fake;
}

/** Listen on a loopback port (0: any free one); its URL, and a close that ends open connections too. */
export async function serveOnLoopback(server: http.Server, port = 0): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const startFakeOpenAi = () => startFake("openai");
export const startFakeOllama = () => startFake("ollama");

/** A port nothing listens on (connection refused). */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
