// agent.*: the assistants chat runs use (provider, model, system prompt).
import {
  agentCreateInput,
  agentDeleteInput,
  agentSetSessionDefaultInput,
  agentUpdateInput,
} from "../../shared/chat";
import { createAgent, deleteAgent, listAgents, setSessionDefaultAgent, updateAgent } from "../chat/agents";
import { publicProcedure, router } from "../trpc";

export const agentRouter = router({
  /** Every agent, oldest first (the first is the default when a session names none). */
  list: publicProcedure.query(({ ctx }) => listAgents(ctx.db)),
  /** The providers configured on this server and their default models (never keys or URLs). */
  providers: publicProcedure.query(({ ctx }) =>
    [...ctx.chat.providers.values()].map((p) => ({
      id: p.id,
      defaultModel: p.defaultModel,
      label: p.id === "builtin" ? "Parley built-in retrieval assistant (not a language model)" : p.id,
    })),
  ),
  create: publicProcedure.input(agentCreateInput).mutation(({ ctx, input }) => createAgent(ctx.db, ctx.chat.providers, input)),
  update: publicProcedure.input(agentUpdateInput).mutation(({ ctx, input }) => updateAgent(ctx.db, ctx.chat.providers, input)),
  delete: publicProcedure.input(agentDeleteInput).mutation(({ ctx, input }) => deleteAgent(ctx.db, input.id)),
  /** The agent `chat.send` uses in a session when the caller names none (null: the first agent). */
  setSessionDefault: publicProcedure
    .input(agentSetSessionDefaultInput)
    .mutation(({ ctx, input }) => setSessionDefaultAgent(ctx.db, input)),
});
