// One interface for every source of answers: list models, and stream a
// completion for a list of messages. Providers hold the I/O; the run registry
// (../runs.ts) holds the rules (limits, persistence, fan-out).
import type { Prisma } from "../../../generated/prisma/client";
import type { ProviderId } from "../../../shared/chat";

export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface CompletionRequest {
  model: string;
  messages: ChatTurn[];
  temperature: number;
  /** The session the question was asked in (the built-in assistant searches it first). */
  sessionId: string;
  /** The persisted user message being answered (the built-in assistant leaves it out of its search). */
  questionMessageId: string;
  /** The messages the asker may see; a provider that searches (the built-in one) stays inside it. */
  scope?: Prisma.MessageWhereInput;
  /** Aborting closes the upstream connection; the stream then throws. */
  signal: AbortSignal;
}

export interface CompletionUsage {
  promptTokens: number | null;
  completionTokens: number | null;
  /** Tokens per second as measured by the provider (Ollama's eval_duration), if it says. */
  tokensPerSecond?: number | null;
}

/**
 * What a completion stream yields: text deltas in order, then exactly one
 * `end`. Failures are thrown as ProviderError (readable reason); an abort
 * through the request's signal is thrown as the signal's reason.
 */
export type CompletionChunk =
  | { type: "text"; text: string }
  | { type: "end"; finishReason: "stop" | "length"; providerFinishReason: string | null; usage: CompletionUsage | null };

export interface ChatProvider {
  readonly id: ProviderId;
  /** The model an agent gets when it names none. */
  readonly defaultModel: string;
  /**
   * The stream reads Parley's database (the built-in assistant searches the
   * messages). Such a request starts only once the question is committed;
   * any other starts inside the transaction that stores the question.
   */
  readonly readsDatabase: boolean;
  listModels(signal?: AbortSignal): Promise<string[]>;
  stream(request: CompletionRequest): AsyncIterable<CompletionChunk>;
}

/** A provider failure with a reason fit to show a user ("HTTP 500 from …: …", "stalled: …"). */
export class ProviderError extends Error {
  override readonly name = "ProviderError";
}
