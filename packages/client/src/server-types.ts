// The server's types the client is typed against: the one file of the client
// that reaches into the server. In the repository they come from the server's
// own source. The package build (scripts/build.ts) compiles the client with
// this file replaced by the same types printed as plain TypeScript, so the
// published .d.ts names no server library (Prisma, zod, pino, ioredis).
// Add a type here to make it part of the client's public types.
export type { AppRouter } from "../../../src/server/routers/_app";
export type { SessionEvent, ChatStreamEvent } from "../../../src/shared/events";
export type { ChatRunEvent, RunMetadata, ProviderId, FinishReason } from "../../../src/shared/chat";
export type { AgentEvent, AgentEventEnvelope, AgentEventPublishInput, KnownAgentEventType } from "../../../src/shared/agent-events";
export type { MetricsSample, MetricsResolutionMs } from "../../../src/shared/metrics";
export type { MemoryEvent, MemoryItem, RecallHit, RecallResult, MessageSearchHit, Highlight } from "../../../src/shared/memory";
