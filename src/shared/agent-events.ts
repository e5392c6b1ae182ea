// Typed agent events: what speech, LLM, TTS, tool, memory and agent code
// publishes with `events.publish` and follows with `events.subscribe`: the
// vocabulary of a voice-agent pipeline (connection, speech to text, LLM, tools,
// memory, text to speech, system) plus `custom.<name>` events carrying any JSON
// (the server bounds its size). A refusal names the field and what the event's
// `type` expects there.
import { z } from "zod";
import { idSchema } from "./schemas";

/** Replayed before the live stream when a subscriber gives no `lastEventId` and no `replay`. */
export const EVENTS_REPLAY_DEFAULT = 100;
/** The most a subscriber may ask to replay. */
export const EVENTS_REPLAY_MAX = 1_000;
/** The most type patterns one subscription may carry. */
export const EVENT_TYPE_PATTERNS_MAX = 32;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const optionalId = idSchema.optional();
const ms = z.number().min(0).max(86_400_000);
const count = z.number().int().min(0);

/** Speech-to-text, LLM and text-to-speech errors share one shape. */
const streamError = z.object({
  streamId: optionalId,
  message: text(2_000),
  code: text(100).optional(),
});

const llmResult = z.object({
  streamId: optionalId,
  text: text(100_000),
  model: text(200).optional(),
  promptTokens: count.optional(),
  completionTokens: count.optional(),
  ttftMs: ms.optional(),
  durationMs: ms.optional(),
  finishReason: text(50).optional(),
});

/** How a pipeline reports severity; `warning` and `critical` as some pipelines spell them. */
const level = z.enum(["debug", "info", "warn", "warning", "error", "critical"]);

/** Process memory as a pipeline reports it: bytes, or named figures (`{ rss, heapUsed, ... }`). */
const memoryFigures = z.union([z.number().min(0), z.record(text(100), z.number())]);

const known = z.discriminatedUnion("type", [
  // Connections of the pipeline's parts (a client, a speech service, a model server).
  z.object({
    type: z.literal("connection.status"),
    data: z.object({
      status: z.enum(["connecting", "connected", "reconnecting", "disconnected", "closed", "error"]),
      /** Which connection: `client`, `stt`, `llm`, `tts`, a service name. */
      component: text(200).optional(),
      connectionId: text(200).optional(),
      message: text(2_000).optional(),
      latencyMs: ms.optional(),
      attempt: count.optional(),
    }),
  }),
  // Speech to text.
  z.object({
    type: z.literal("stt.start"),
    data: z.object({ streamId: optionalId, language: text(35).optional(), sampleRate: count.optional() }),
  }),
  z.object({
    type: z.literal("stt.progress"),
    data: z.object({ streamId: optionalId, text: text(10_000), confidence: z.number().min(0).max(1).optional() }),
  }),
  z.object({
    type: z.literal("stt.result"),
    data: z.object({
      streamId: optionalId,
      text: text(10_000),
      confidence: z.number().min(0).max(1).optional(),
      durationMs: ms.optional(),
    }),
  }),
  z.object({ type: z.literal("stt.error"), data: streamError }),
  // LLM.
  z.object({
    type: z.literal("llm.start"),
    data: z.object({ streamId: optionalId, model: text(200), provider: text(100).optional(), promptTokens: count.optional() }),
  }),
  z.object({
    type: z.literal("llm.progress"),
    /** `delta` is the new text; `tokens` the completion tokens so far. */
    data: z.object({ streamId: optionalId, delta: text(10_000).optional(), tokens: count.optional() }),
  }),
  z.object({ type: z.literal("llm.result"), data: llmResult }),
  /** One streamed token (or a few): `llm.progress` by the name LLM pipelines use. */
  z.object({
    type: z.literal("llm.token"),
    data: z.object({ streamId: optionalId, token: text(10_000).optional(), delta: text(10_000).optional(), tokens: count.optional(), index: count.optional() }),
  }),
  /** The finished completion: `llm.result` by the name LLM pipelines use. */
  z.object({ type: z.literal("llm.complete"), data: llmResult }),
  z.object({ type: z.literal("llm.error"), data: streamError }),
  // Text to speech.
  z.object({
    type: z.literal("tts.start"),
    data: z.object({ streamId: optionalId, voice: text(100).optional(), text: text(10_000).optional() }),
  }),
  z.object({
    type: z.literal("tts.progress"),
    data: z.object({ streamId: optionalId, chunk: count.optional(), audioMs: ms.optional() }),
  }),
  z.object({
    type: z.literal("tts.result"),
    data: z.object({ streamId: optionalId, audioMs: ms.optional(), durationMs: ms.optional() }),
  }),
  z.object({ type: z.literal("tts.error"), data: streamError }),
  // Tools.
  z.object({
    type: z.literal("tool.call"),
    data: z.object({ callId: idSchema, name: text(200), arguments: z.json().optional() }),
  }),
  z.object({
    type: z.literal("tool.result"),
    data: z.object({ callId: idSchema, name: text(200), result: z.json().optional(), durationMs: ms.optional() }),
  }),
  z.object({
    type: z.literal("tool.error"),
    data: z.object({ callId: idSchema, name: text(200), message: text(2_000) }),
  }),
  // Memory. Parley's memory store (memory.*) publishes these itself with
  // counts and timings only: `key` is the memory id, `namespace` its scope
  // kind; never its content, nor the query.
  z.object({
    type: z.literal("memory.store"),
    data: z.object({
      key: text(500),
      namespace: text(200).optional(),
      value: z.json().optional(),
      /** created | updated | deleted */
      operation: text(20).optional(),
      /** Writes this event stands for (Parley coalesces a principal's writes over 250 ms; `key` is the last one's). */
      operations: count.optional(),
      bytes: count.optional(),
      durationMs: ms.optional(),
    }),
  }),
  z.object({
    type: z.literal("memory.recall"),
    data: z.object({
      query: text(2_000).optional(),
      namespace: text(200).optional(),
      results: z.array(z.object({ key: text(500), score: z.number().optional(), value: z.json().optional() })).max(100).optional(),
      /** Results returned, and how they were ranked (text | hybrid). */
      count: count.optional(),
      /** Recalls this event stands for (coalesced over 250 ms: results summed, times the slowest). */
      operations: count.optional(),
      mode: text(20).optional(),
      durationMs: ms.optional(),
      textMs: ms.optional(),
      vectorMs: ms.optional(),
    }),
  }),
  z.object({
    type: z.literal("memory.error"),
    data: z.object({
      message: text(2_000),
      code: text(100).optional(),
      /** What failed: `store`, `recall`, `delete`, `embed` (Parley's own embeddings queue), ... */
      operation: text(100).optional(),
      key: text(500).optional(),
      namespace: text(200).optional(),
      /** Memories the failure concerned (a failed embeddings batch), and which attempt it was. */
      count: count.optional(),
      attempt: count.optional(),
    }),
  }),
  // A task's progress: reasoning steps, an evolution run's generations.
  z.object({
    type: z.literal("agent.progress"),
    data: z.object({
      taskId: optionalId,
      step: z.union([text(200), count]),
      percent: z.number().min(0).max(100),
      message: text(2_000),
    }),
  }),
  /** A note, or a pipeline's status heartbeat (`{ version, uptime, memory }`): one of `message` or `version` is required. */
  z.object({
    type: z.literal("system.info"),
    data: z
      .object({
        message: text(2_000).optional(),
        level: level.default("info"),
        details: z.json().optional(),
        version: text(100).optional(),
        /** Seconds since the reporting process started. */
        uptime: z.number().min(0).optional(),
        memory: memoryFigures.optional(),
      })
      .refine((data) => data.message !== undefined || data.version !== undefined, {
        message: "needs a message (a note) or a version (a status report)",
        path: ["message"],
      }),
  }),
  /** Something an operator should look at. */
  z.object({
    type: z.literal("system.alert"),
    data: z.object({
      message: text(2_000),
      level: level.default("warning"),
      /** What raised it: a component, a check. */
      source: text(200).optional(),
      code: text(100).optional(),
      details: z.json().optional(),
    }),
  }),
  /** Where the time of one turn went: named spans relative to its start. */
  z.object({
    type: z.literal("latency.trace"),
    data: z.object({
      traceId: optionalId,
      totalMs: ms,
      spans: z.array(z.object({ name: text(100), startMs: ms, durationMs: ms })).max(100),
    }),
  }),
]);

const knownTypes: readonly KnownAgentEventType[] = known.options.map((o) => o.shape.type.value);

/** `custom.<name>`: lower-case name segments separated by dots. */
export const customEventTypeSchema = z
  .templateLiteral(["custom.", z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/)], {
    error: "must look like custom.<name> (lower-case letters, digits, _ - and dots)",
  })
  .refine((type) => type.length <= 100, { message: "must be at most 100 characters" });

const custom = z.object({ type: customEventTypeSchema, data: z.json() });
const anyEvent = z.union([known, custom]);

/**
 * Why an event is refused, as issues on the fields that `type` names: the one
 * schema the event's `type` selects (a known type's, or custom's), or the type
 * itself when it is neither. A bare union of the two reports only "Invalid
 * input" at the root, whichever field was wrong.
 */
function eventIssues(value: unknown): z.core.$ZodIssue[] {
  const type = typeof value === "object" && value !== null && "type" in value ? value.type : undefined;
  if (typeof type === "string" && type.startsWith("custom.")) {
    const result = custom.safeParse(value);
    return result.success ? [] : result.error.issues;
  }
  if (typeof type === "string" && (knownTypes as readonly string[]).includes(type)) {
    const result = known.safeParse(value);
    return result.success ? [] : result.error.issues.map((issue) => ({ ...issue, message: `${issue.message} (in a ${type} event)` }));
  }
  const got = type === undefined ? "none" : JSON.stringify(type);
  return [
    {
      code: "custom",
      path: ["type"],
      message: `must be one of ${knownTypes.join(", ")}, or custom.<name>; got ${got}`,
      input: type,
    },
  ];
}

/**
 * Every agent event: `{ type, data }`. The check before the union reports a
 * refusal on the field `type` names (`data.message: ... (in a system.alert
 * event)`); the union gives the types and the JSON Schema.
 */
export const agentEventSchema = z.preprocess<unknown, typeof anyEvent, z.input<typeof anyEvent>>((value, ctx) => {
  for (const issue of eventIssues(value)) ctx.addIssue({ code: "custom", path: issue.path, message: issue.message, input: value });
  return value;
}, anyEvent);
export type AgentEvent = z.output<typeof agentEventSchema>;
export type KnownAgentEventType = z.output<typeof known>["type"];

/** The known types, for clients and documentation. */
export const knownAgentEventTypes = knownTypes;

/** `events.publish` input: an event, optionally in a session and addressed to one principal. */
export const agentEventPublishInput = agentEventSchema.and(
  z.object({
    sessionId: idSchema.optional(),
    /** A principal id: only that principal's connections receive the event. */
    to: text(200).min(1).optional(),
  }),
);
export type AgentEventPublishInput = z.input<typeof agentEventPublishInput>;

/**
 * A type filter: an exact type (`llm.result`), a family (`llm.*`, `custom.*`,
 * `custom.game.*`) or `*` for everything.
 */
export const eventTypePatternSchema = z
  .string()
  .max(100)
  .regex(/^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$/, "must be a type (llm.result), a family pattern (llm.*) or *");

export const agentEventSubscribeInput = z.object({
  /** Only these types; patterns like `llm.*`. Default: all. */
  types: z.array(eventTypePatternSchema).min(1).max(EVENT_TYPE_PATTERNS_MAX).optional(),
  /** Only events of this session. */
  sessionId: idSchema.optional(),
  /** Resume: every matching event after this id (set by tRPC clients on reconnect). */
  lastEventId: z.string().max(32).nullish(),
  /** Without lastEventId: how many of the latest matching events to replay before the live stream. */
  replay: z.number().int().min(0).max(EVENTS_REPLAY_MAX).default(EVENTS_REPLAY_DEFAULT),
});

/** A persisted event as subscribers receive it; `id` is also its tracked id. */
export type AgentEventEnvelope = AgentEvent & {
  id: number;
  sessionId: string | null;
  to: string | null;
  /** The principal id that published it. */
  source: string;
  createdAt: Date;
};

/** A predicate for a list of type patterns (see eventTypePatternSchema). */
export function eventTypeMatcher(patterns: readonly string[] | undefined): (type: string) => boolean {
  if (!patterns || patterns.includes("*")) return () => true;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith(".*")) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  return (type) => exact.has(type) || prefixes.some((prefix) => type.startsWith(prefix));
}
