// agent.*: the assistants chat runs use (provider, model, system prompt).
import {
  agentCreateInput,
  agentDeleteInput,
  agentModelsInput,
  agentSetSessionDefaultInput,
  agentUpdateInput,
} from "../../shared/chat";
import { createAgent, deleteAgent, listAgents, listProviderModels, setSessionDefaultAgent, updateAgent } from "../chat/agents";
import { requireSession } from "../auth/access";
import { isAdmin } from "../auth/principal";
import { adminProcedure, authedProcedure, router } from "../trpc";

export const agentRouter = router({
  /**
   * Every agent, oldest first (the first is the default when a session names
   * none). `systemPrompt` is the operator's configuration: null unless the caller is an admin.
   */
  list: authedProcedure.query(async ({ ctx }) => {
    const admin = isAdmin(ctx.principal);
    return (await listAgents(ctx.db)).map((agent) => ({ ...agent, systemPrompt: admin ? agent.systemPrompt : null }));
  }),
  /** The providers configured on this server and their default models (never keys or URLs). */
  providers: authedProcedure.query(({ ctx }) =>
    [...ctx.chat.providers.values()].map((p) => ({
      id: p.id,
      defaultModel: p.defaultModel,
      label: p.id === "builtin" ? "Parley built-in retrieval assistant (not a language model)" : p.id,
    })),
  ),
  /** The models a configured provider offers, asked of the provider itself (BAD_GATEWAY when it cannot answer). */
  models: authedProcedure
    .input(agentModelsInput)
    .query(({ ctx, input, signal }) => listProviderModels(ctx.chat.providers, input.provider, signal)),
  /** Admins only. */
  create: adminProcedure.input(agentCreateInput).mutation(({ ctx, input }) => createAgent(ctx.db, ctx.chat.providers, input)),
  update: adminProcedure.input(agentUpdateInput).mutation(({ ctx, input }) => updateAgent(ctx.db, ctx.chat.providers, input)),
  delete: adminProcedure.input(agentDeleteInput).mutation(({ ctx, input }) => deleteAgent(ctx.db, input.id)),
  /** The agent `chat.send` uses in a session when the caller names none (null: the first agent). */
  setSessionDefault: authedProcedure.input(agentSetSessionDefaultInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "write");
    return setSessionDefaultAgent(ctx.db, input);
  }),
});
