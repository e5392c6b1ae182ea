// Embeddings providers: text in, unit-length float32 vectors out, over HTTP.
//   openai  OpenAI-compatible `POST <base>/v1/embeddings` { model, input: [...] }
//           (OpenAI, vLLM, llama.cpp, LM Studio, Ollama's /v1, text-embeddings-inference)
//   ollama  Ollama's `POST <host>/api/embed` { model, input: [...] }
// Failures are thrown as EmbeddingsError with a reason fit to show.
import { z } from "zod";
import type { Config } from "../env";

export class EmbeddingsError extends Error {
  override readonly name = "EmbeddingsError";
}

export interface EmbeddingsProvider {
  /** `provider:model`, stored beside each vector: another model's vectors are not compared. */
  readonly model: string;
  /** One vector per text, in order, each of unit length. */
  embed(texts: readonly string[], signal: AbortSignal): Promise<Float32Array[]>;
}

const openAiReply = z.object({ data: z.array(z.object({ index: z.number().int().min(0), embedding: z.array(z.number()) })) });
const ollamaReply = z.object({ embeddings: z.array(z.array(z.number())) });

/** The configured provider, or null (text ranking only). */
export function createEmbeddingsProvider(config: Config): EmbeddingsProvider | null {
  if (!config.EMBEDDINGS_PROVIDER) return null;
  const timeoutMs = config.EMBEDDINGS_TIMEOUT_MS;
  if (config.EMBEDDINGS_PROVIDER === "openai") {
    const base = (config.EMBEDDINGS_BASE_URL ?? config.OPENAI_BASE_URL ?? "https://api.openai.com").replace(/\/+$/, "");
    const key = config.EMBEDDINGS_API_KEY ?? config.OPENAI_API_KEY;
    return new HttpEmbeddings(`openai:${config.EMBEDDINGS_MODEL}`, `${base}/v1/embeddings`, key, timeoutMs, (model, input) => ({ model, input }), (body, count) => {
      const reply = openAiReply.parse(body);
      const vectors: number[][] = new Array<number[]>(count);
      for (const item of reply.data) if (item.index < count) vectors[item.index] = item.embedding;
      return vectors;
    });
  }
  const host = (config.EMBEDDINGS_BASE_URL ?? config.OLLAMA_HOST ?? "http://127.0.0.1:11434").replace(/\/+$/, "");
  return new HttpEmbeddings(`ollama:${config.EMBEDDINGS_MODEL}`, `${host}/api/embed`, undefined, timeoutMs, (model, input) => ({ model, input }), (body) => ollamaReply.parse(body).embeddings);
}

class HttpEmbeddings implements EmbeddingsProvider {
  private readonly modelName: string;

  constructor(
    readonly model: string,
    private readonly url: string,
    private readonly apiKey: string | undefined,
    private readonly timeoutMs: number,
    private readonly request: (model: string, input: readonly string[]) => unknown,
    private readonly vectorsOf: (body: unknown, count: number) => number[][],
  ) {
    this.modelName = model.slice(model.indexOf(":") + 1);
  }

  async embed(texts: readonly string[], signal: AbortSignal): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const where = new URL(this.url);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers,
        body: JSON.stringify(this.request(this.modelName, texts)),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (error) {
      const reason = signal.aborted ? "aborted" : error instanceof Error && error.name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms (EMBEDDINGS_TIMEOUT_MS)` : causeOf(error);
      throw new EmbeddingsError(`embeddings server ${where.host}: ${reason}`);
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).slice(0, 300);
      throw new EmbeddingsError(`HTTP ${response.status} from ${where.host}${where.pathname}: ${text}`);
    }
    let vectors: number[][];
    try {
      vectors = this.vectorsOf(await response.json(), texts.length);
    } catch (error) {
      throw new EmbeddingsError(`unexpected answer from ${where.host}${where.pathname}: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
    }
    if (vectors.length !== texts.length || vectors.some((v) => v === undefined || v.length === 0)) {
      throw new EmbeddingsError(`${where.host} returned ${vectors.length} vectors for ${texts.length} texts`);
    }
    return vectors.map(unitVector);
  }
}

function causeOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : null;
  return cause ? `${error.message} (${cause})` : error.message;
}

/** `values` scaled to length 1 (a zero vector stays zero: it matches nothing). */
export function unitVector(values: ArrayLike<number>): Float32Array {
  const vector = Float32Array.from(values);
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += (vector[i] ?? 0) * (vector[i] ?? 0);
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] ?? 0) / norm;
  return vector;
}

/** A vector as stored in Memory.embedding: little-endian float32. */
export function vectorToBytes(vector: Float32Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(new ArrayBuffer(vector.length * 4));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i] ?? 0, true);
  return bytes;
}

export function vectorFromBytes(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Float32Array(Math.floor(bytes.byteLength / 4));
  for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
  return vector;
}
