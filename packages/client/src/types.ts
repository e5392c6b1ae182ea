// The types an app needs, each derived from the server's own definitions
// (the router, zod schemas, Prisma models through the router's outputs; see
// server-types.ts), so they change when the server does. Nothing here is written by hand.
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "./server-types";

export type * from "./server-types";
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** A session as the API returns it. */
export type Session = RouterOutputs["session"]["create"];
/** A session with `messageCount` and `lastSeq` (session.get). */
export type SessionDetails = RouterOutputs["session"]["get"];
/** A message as the API returns it (with its `seq`). */
export type Message = RouterOutputs["message"]["post"];
/** A window of metrics.live. */
export type MetricsWindow = RouterOutputs["metrics"]["live"] extends AsyncIterable<{ data: infer W }> ? W : never;
/** An agent (agent.list). */
export type Agent = RouterOutputs["agent"]["list"][number];

export type SessionCreateInput = RouterInputs["session"]["create"];
export type SessionUpdateInput = RouterInputs["session"]["update"];
export type SessionListInput = RouterInputs["session"]["list"];
export type MessagePostInput = RouterInputs["message"]["post"];
export type MessageListInput = RouterInputs["message"]["list"];
export type ChatSendInput = RouterInputs["chat"]["send"];
export type ChatSendOutput = RouterOutputs["chat"]["send"];
export type EventsPublishInput = RouterInputs["events"]["publish"];
export type EventsSubscribeInput = RouterInputs["events"]["subscribe"];
