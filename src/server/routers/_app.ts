// The whole API. Its type, AppRouter, is what every client is typed against.
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { router } from "../trpc";
import { agentRouter } from "./agent";
import { authRouter } from "./auth";
import { chatRouter } from "./chat";
import { eventsRouter } from "./events";
import { memoryRouter } from "./memory";
import { messageRouter } from "./message";
import { metricsRouter } from "./metrics";
import { presenceRouter } from "./presence";
import { sessionRouter } from "./session";
import { systemRouter } from "./system";

export const appRouter = router({
  system: systemRouter,
  session: sessionRouter,
  message: messageRouter,
  metrics: metricsRouter,
  events: eventsRouter,
  presence: presenceRouter,
  chat: chatRouter,
  agent: agentRouter,
  auth: authRouter,
  memory: memoryRouter,
});

export type AppRouter = typeof appRouter;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
