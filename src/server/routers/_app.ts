// The whole API. Its type, AppRouter, is what every client is typed against.
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { router } from "../trpc";
import { agentRouter } from "./agent";
import { chatRouter } from "./chat";
import { messageRouter } from "./message";
import { sessionRouter } from "./session";
import { systemRouter } from "./system";

export const appRouter = router({
  system: systemRouter,
  session: sessionRouter,
  message: messageRouter,
  chat: chatRouter,
  agent: agentRouter,
});

export type AppRouter = typeof appRouter;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
