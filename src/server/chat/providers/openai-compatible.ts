// OpenAI-compatible chat completions (`POST {baseUrl}/v1/chat/completions`,
// `stream: true`): OpenAI, vLLM, llama.cpp's server, LM Studio, Ollama's /v1.
// The SSE body is parsed with eventsource-parser; `[DONE]` ends it.
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { z } from "zod";
import { describeFetchError, linkedController, postJson, readText, summarise } from "./http";
import { ProviderError, type ChatProvider, type CompletionChunk, type CompletionRequest, type CompletionUsage } from "./provider";
import { SecretRedactor, urlCredentials } from "./secrets";

/** Longest excerpt of a chunk the provider sent that could not be read, kept in an error. */
const CHUNK_EXCERPT_CHARS = 120;

export interface OpenAiCompatibleOptions {
  baseUrl: string;
  apiKey: string | undefined;
  defaultModel: string;
  stallMs: number;
}

const chunkSchema = z.object({
  choices: z
    .array(
      z.object({
        delta: z.object({ content: z.string().nullish() }).partial().nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .default([]),
  usage: z.object({ prompt_tokens: z.number().nullish(), completion_tokens: z.number().nullish() }).nullish(),
  /** Servers (OpenAI, vLLM) report a failure mid-stream as `data: {"error": {...}}`, with no choices. */
  error: z.unknown().optional(),
});

const modelsSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

export class OpenAiCompatibleProvider implements ChatProvider {
  readonly id = "openai" as const;
  readonly readsDatabase = false;
  readonly defaultModel: string;
  private readonly baseUrl: string;
  /** The key and any credentials in the base URL. */
  private readonly secrets: SecretRedactor;

  constructor(private readonly options: OpenAiCompatibleOptions) {
    // Accept both `http://host:8080` and `http://host:8080/v1`.
    this.baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.defaultModel = options.defaultModel;
    this.secrets = new SecretRedactor([options.apiKey, ...urlCredentials(options.baseUrl)]);
  }

  private headers(): Record<string, string> {
    return this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {};
  }

  /**
   * Providers quote a refused key in their error text ("Incorrect API key
   * provided: sk-..."). Errors become message metadata (sent to clients) and
   * log lines. Every excerpt of the provider's words is redacted before it is
   * cut (secrets.ts); this last pass covers the whole text of every error thrown.
   */
  private withoutKey(error: unknown): unknown {
    if (!(error instanceof ProviderError)) return error;
    const redacted = this.secrets.redact(error.message);
    return redacted === error.message ? error : new ProviderError(redacted);
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    try {
      return await this.fetchModels(signal);
    } catch (error) {
      throw this.withoutKey(error);
    }
  }

  async *stream(request: CompletionRequest): AsyncGenerator<CompletionChunk> {
    try {
      yield* this.streamCompletion(request);
    } catch (error) {
      throw this.withoutKey(error);
    }
  }

  private async fetchModels(signal?: AbortSignal): Promise<string[]> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/v1/models`, { headers: this.headers(), signal });
    } catch (error) {
      throw new ProviderError(`cannot reach the provider: ${this.secrets.redact(describeFetchError(error))}`);
    }
    if (!response.ok) throw new ProviderError(`HTTP ${response.status} from the provider's /v1/models`);
    const parsed = modelsSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new ProviderError("unexpected /v1/models answer from the provider");
    return parsed.data.data.map((m) => m.id);
  }

  private async *streamCompletion(request: CompletionRequest): AsyncGenerator<CompletionChunk> {
    const upstream = linkedController(request.signal);
    const response = await postJson(
      `${this.baseUrl}/v1/chat/completions`,
      {
        model: request.model,
        messages: request.messages,
        temperature: request.temperature,
        stream: true,
        stream_options: { include_usage: true },
      },
      this.headers(),
      upstream.signal,
      this.secrets,
    );

    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    let finishReason: string | null = null;
    let usage: CompletionUsage | null = null;
    let done = false;

    for await (const text of readText(response, this.options.stallMs, request.signal, (e) => upstream.abort(e))) {
      parser.feed(text);
      for (const event of events.splice(0)) {
        if (event.data.trim() === "[DONE]") {
          done = true;
          break;
        }
        let json: unknown;
        try {
          json = JSON.parse(event.data);
        } catch {
          upstream.abort(new ProviderError("malformed chunk"));
          throw new ProviderError(`malformed chunk from the provider (not JSON): ${this.secrets.excerpt(event.data, CHUNK_EXCERPT_CHARS)}`);
        }
        const chunk = chunkSchema.safeParse(json);
        if (chunk.success && chunk.data.error != null) {
          upstream.abort(new ProviderError("provider error"));
          throw new ProviderError(`the provider reported an error: ${summarise(event.data, this.secrets)}`);
        }
        if (!chunk.success) {
          upstream.abort(new ProviderError("malformed chunk"));
          throw new ProviderError(`malformed chunk from the provider: ${this.secrets.excerpt(event.data, CHUNK_EXCERPT_CHARS)}`);
        }
        for (const choice of chunk.data.choices) {
          const content = choice.delta?.content;
          if (content) yield { type: "text", text: content };
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
        if (chunk.data.usage) {
          usage = {
            promptTokens: chunk.data.usage.prompt_tokens ?? null,
            completionTokens: chunk.data.usage.completion_tokens ?? null,
          };
        }
      }
      if (done) break;
    }
    if (done) upstream.abort(new Error("stream complete")); // nothing more to read; free the socket
    if (!done && finishReason === null) {
      throw new ProviderError("the provider closed the stream before finishing (no [DONE] and no finish_reason)");
    }
    yield {
      type: "end",
      finishReason: finishReason === "length" ? "length" : "stop",
      providerFinishReason: finishReason,
      usage,
    };
  }
}
