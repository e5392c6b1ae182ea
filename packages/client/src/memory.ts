// Memory helpers: `remember` (memory.store) and `recall` (memory.recall) with
// a plain signature for the common case: text in, stored memory or ranked
// hits out. Everything else is on `api.memory.*`.
import type { TRPCClient } from "@trpc/client";
import type { AppRouter } from "./server-types";
import type { RouterInputs, RouterOutputs } from "./types";

export type RememberOptions = Omit<RouterInputs["memory"]["store"], "content">;
export type RecallOptions = Omit<RouterInputs["memory"]["recall"], "query">;

export function remember(api: TRPCClient<AppRouter>, content: string, options: RememberOptions = {}): Promise<RouterOutputs["memory"]["store"]> {
  return api.memory.store.mutate({ ...options, content });
}

export function recall(api: TRPCClient<AppRouter>, query: string, options: RecallOptions = {}): Promise<RouterOutputs["memory"]["recall"]> {
  return api.memory.recall.query({ ...options, query });
}
