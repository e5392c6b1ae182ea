// Ollama's native chat API (`POST {host}/api/chat`): NDJSON, one object per
// line; the last (`done: true`) carries eval counts and durations.
import { z } from "zod";
import { describeFetchError, ERROR_EXCERPT_CHARS, linkedController, postJson, readText } from "./http";
import { ProviderError, type ChatProvider, type CompletionChunk, type CompletionRequest } from "./provider";
import { SecretRedactor, urlCredentials } from "./secrets";

/** Longest excerpt of a line Ollama sent that could not be read, kept in an error. */
const LINE_EXCERPT_CHARS = 120;

export interface OllamaOptions {
  host: string;
  defaultModel: string;
  stallMs: number;
}

const lineSchema = z.object({
  message: z.object({ content: z.string().default("") }).nullish(),
  done: z.boolean().default(false),
  done_reason: z.string().nullish(),
  eval_count: z.number().nullish(),
  eval_duration: z.number().nullish(),
  prompt_eval_count: z.number().nullish(),
  error: z.string().nullish(),
});

const tagsSchema = z.object({ models: z.array(z.object({ name: z.string() })) });

export class OllamaProvider implements ChatProvider {
  readonly id = "ollama" as const;
  readonly readsDatabase = false;
  readonly defaultModel: string;
  private readonly host: string;
  /** Credentials in OLLAMA_HOST, if any. */
  private readonly secrets: SecretRedactor;

  constructor(private readonly options: OllamaOptions) {
    this.host = options.host.replace(/\/+$/, "");
    this.defaultModel = options.defaultModel;
    this.secrets = new SecretRedactor(urlCredentials(options.host));
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    let response: Response;
    try {
      response = await fetch(`${this.host}/api/tags`, { signal });
    } catch (error) {
      throw new ProviderError(`cannot reach Ollama: ${this.secrets.redact(describeFetchError(error))}`);
    }
    if (!response.ok) throw new ProviderError(`HTTP ${response.status} from Ollama's /api/tags`);
    const parsed = tagsSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new ProviderError("unexpected /api/tags answer from Ollama");
    return parsed.data.models.map((m) => m.name);
  }

  async *stream(request: CompletionRequest): AsyncGenerator<CompletionChunk> {
    const upstream = linkedController(request.signal);
    const response = await postJson(
      `${this.host}/api/chat`,
      { model: request.model, messages: request.messages, stream: true, options: { temperature: request.temperature } },
      {},
      upstream.signal,
      this.secrets,
    );
    let buffered = "";
    for await (const text of readText(response, this.options.stallMs, request.signal, (e) => upstream.abort(e))) {
      buffered += text;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line) continue;
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch {
          upstream.abort(new ProviderError("malformed line"));
          throw new ProviderError(`malformed line from Ollama (not JSON): ${this.secrets.excerpt(line, LINE_EXCERPT_CHARS)}`);
        }
        const parsed = lineSchema.safeParse(json);
        if (!parsed.success) {
          upstream.abort(new ProviderError("malformed line"));
          throw new ProviderError(`malformed line from Ollama: ${this.secrets.excerpt(line, LINE_EXCERPT_CHARS)}`);
        }
        const chunk = parsed.data;
        if (chunk.error) {
          upstream.abort(new ProviderError("provider error"));
          throw new ProviderError(`Ollama reported an error: ${this.secrets.excerpt(chunk.error, ERROR_EXCERPT_CHARS)}`);
        }
        if (chunk.message?.content) yield { type: "text", text: chunk.message.content };
        if (chunk.done) {
          upstream.abort(new Error("stream complete"));
          const evalSeconds = chunk.eval_duration ? chunk.eval_duration / 1e9 : null;
          yield {
            type: "end",
            finishReason: chunk.done_reason === "length" ? "length" : "stop",
            providerFinishReason: chunk.done_reason ?? null,
            usage: {
              promptTokens: chunk.prompt_eval_count ?? null,
              completionTokens: chunk.eval_count ?? null,
              tokensPerSecond: chunk.eval_count && evalSeconds ? chunk.eval_count / evalSeconds : null,
            },
          };
          return;
        }
      }
    }
    throw new ProviderError("Ollama closed the stream before its final (done) line");
  }
}
