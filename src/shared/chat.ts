// Chat inputs, run metadata and run-stream events, shared by the server
// (validation) and clients (types). Agents name a provider and a model; a run
// streams one assistant answer.
import { z } from "zod";
import type { Message } from "../generated/prisma/client";
import { authorLabelSchema, clientKeySchema, idSchema, visibilities } from "./schemas";

/** Providers a server can know. "builtin" (the retrieval assistant) is always available. */
export const providerIds = ["builtin", "openai", "ollama"] as const;
export type ProviderId = (typeof providerIds)[number];

/** The built-in retrieval assistant's model label: not a language model. */
export const BUILTIN_MODEL = "parley-retrieval";

/** How a run ended. `stop`/`length` end `complete`; `stopped` and `error` keep their own status. */
export const finishReasons = ["stop", "length", "stopped", "error"] as const;
export type FinishReason = (typeof finishReasons)[number];

/** What a finished (or running) assistant message carries in `Message.metadata`. */
export const runMetadataSchema = z.object({
  runId: z.string(),
  /** The server instance executing the run (scale-out: stop and recovery find their owner). */
  instance: z.string().optional(),
  agentId: z.string().nullable(),
  agentName: z.string(),
  provider: z.enum(providerIds),
  model: z.string(),
  /** Milliseconds from the run's start to its first text. */
  ttftMs: z.number().nullable().optional(),
  durationMs: z.number().nullable().optional(),
  promptTokens: z.number().nullable().optional(),
  completionTokens: z.number().nullable().optional(),
  tokensPerSecond: z.number().nullable().optional(),
  finishReason: z.enum(finishReasons).optional(),
  /** The provider's own finish reason when it differs (e.g. "content_filter"). */
  providerFinishReason: z.string().nullable().optional(),
  /** "provider" when the provider reported usage, "estimated" when Parley counted chunks. */
  usageSource: z.enum(["provider", "estimated"]).optional(),
  /** Readable reason for `finishReason: "error"` ("interrupted", "HTTP 500: ...", "stalled: ..."). */
  error: z.string().optional(),
  /** The memories the provider was given as context (CHAT_MEMORY_CONTEXT), by id. */
  memoryIds: z.array(z.string()).optional(),
});
export type RunMetadata = z.infer<typeof runMetadataSchema>;

const temperature = z.number().min(0, "must be at least 0").max(2, "must be at most 2");
const agentName = z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters");

export const agentCreateInput = z.object({
  name: agentName,
  provider: z.enum(providerIds),
  /** Defaults to the provider's configured default model. */
  model: z.string().trim().min(1).max(200).optional(),
  systemPrompt: z.string().max(20_000, "must be at most 20000 characters").default(""),
  temperature: temperature.default(0.7),
});

export const agentUpdateInput = z.object({
  id: idSchema,
  name: agentName.optional(),
  provider: z.enum(providerIds).optional(),
  model: z.string().trim().min(1).max(200).optional(),
  systemPrompt: z.string().max(20_000).optional(),
  temperature: temperature.optional(),
});

export const agentDeleteInput = z.object({ id: idSchema });

/** The models a configured provider offers (`agent.models`). */
export const agentModelsInput = z.object({ provider: z.enum(providerIds) });

/** Set (or clear, with null) the agent `chat.send` uses in a session when none is named. */
export const agentSetSessionDefaultInput = z.object({ sessionId: idSchema, agentId: idSchema.nullable() });

export const chatSendInput = z.object({
  sessionId: idSchema,
  /** Size-limited by MESSAGE_MAX_BYTES. */
  content: z.string().min(1, "must not be empty"),
  /** Defaults to the session's default agent, then to the first agent (the seeded built-in assistant). */
  agentId: idSchema.optional(),
  /** A label shown beside the asker's own name (never instead of it). */
  author: authorLabelSchema.optional(),
  /** The question's visibility; its answer inherits it. */
  visibility: z.enum(visibilities).default("public"),
  /**
   * Idempotency key of the question: a retry with the same key starts no
   * second run; it returns the stored question, its first answer and that answer's run.
   */
  clientKey: clientKeySchema.optional(),
});

export const chatRunInput = z.object({
  runId: idSchema,
  /** A text offset: the stream resumes with the text after it. Set by the client on reconnect. */
  lastEventId: z.string().max(32).nullish(),
});

export const chatStopInput = z.object({ runId: idSchema });

export const chatRegenerateInput = z.object({
  /** An assistant answer (its parent is answered again) or the user message itself. */
  messageId: idSchema,
  agentId: idSchema.optional(),
});

const runIdInMetadata = z.object({ runId: z.string() });

/** The run id an assistant message was written by (from its metadata), if any. */
export function runIdOf(message: { metadata: unknown }): string | null {
  const parsed = runIdInMetadata.safeParse(message.metadata);
  return parsed.success ? parsed.data.runId : null;
}

/**
 * `chat.run` events, each tracked with a text offset: a `delta`'s id is the
 * offset right after its text, `done`'s id is the final text length.
 */
export type ChatRunEvent =
  | { type: "delta"; runId: string; messageId: string; offset: number; text: string }
  | { type: "done"; runId: string; message: Message };
