// Agents: which provider and model answer, with what system prompt. Seeded on
// first start (a built-in retrieval assistant always; one per configured
// network provider), then managed through agent.*.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import type { Agent } from "../../generated/prisma/client";
import { BUILTIN_MODEL, providerIds, type ProviderId, type agentCreateInput, type agentSetSessionDefaultInput, type agentUpdateInput } from "../../shared/chat";
import type { Db } from "../db";
import { isRecordNotFound, sessionNotFound } from "../services/errors";
import type { ProviderRegistry } from "./providers";
import { ProviderError } from "./providers/provider";
import { isUniqueViolation } from "../services/errors";

const providerSchema = z.enum(providerIds);

export const BUILTIN_AGENT_NAME = "Parley retrieval assistant";

/** What a run needs to know about the agent that answers. */
export interface AgentConfig {
  id: string | null;
  name: string;
  provider: ProviderId;
  model: string;
  systemPrompt: string;
  temperature: number;
}

/** The answerer used when no agent exists at all (every agent was deleted). */
export const FALLBACK_AGENT: AgentConfig = {
  id: null,
  name: BUILTIN_AGENT_NAME,
  provider: "builtin",
  model: BUILTIN_MODEL,
  systemPrompt: "",
  temperature: 0,
};

function agentNotFound(id: string): TRPCError {
  return new TRPCError({ code: "NOT_FOUND", message: `agent ${id} does not exist; agent.list shows the agents` });
}

function requireProvider(providers: ProviderRegistry, provider: ProviderId) {
  const found = providers.get(provider);
  if (!found) {
    const configured = [...providers.keys()].join(", ");
    const variable = provider === "openai" ? "OPENAI_BASE_URL or OPENAI_API_KEY" : "OLLAMA_HOST";
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: `provider "${provider}" is not configured on this server (set ${variable}); configured: ${configured}`,
    });
  }
  return found;
}

/** How long `agent.models` waits for a provider's model list. */
const MODEL_LIST_TIMEOUT_MS = 5_000;

/**
 * The models `provider` offers, as it reports them (OpenAI-compatible
 * `/v1/models`, Ollama `/api/tags`; the built-in assistant has one). BAD_REQUEST
 * for a provider not configured here; BAD_GATEWAY, with the provider's
 * readable reason, when it cannot be reached or answers wrongly.
 */
export async function listProviderModels(providers: ProviderRegistry, provider: ProviderId, signal?: AbortSignal) {
  const found = requireProvider(providers, provider);
  const timeout = AbortSignal.timeout(MODEL_LIST_TIMEOUT_MS);
  try {
    const models = await found.listModels(signal ? AbortSignal.any([signal, timeout]) : timeout);
    return { provider, models };
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    throw new TRPCError({ code: "BAD_GATEWAY", message: `could not list the models of provider "${provider}": ${error.message}`, cause: error });
  }
}

/** Create the default agents when the table is empty (first start). Returns how many were created. */
export async function seedDefaultAgents(db: Db, providers: ProviderRegistry): Promise<number> {
  if ((await db.agent.count()) > 0) return 0;
  const seeds: Array<Omit<AgentConfig, "id">> = [
    {
      name: BUILTIN_AGENT_NAME,
      provider: "builtin",
      model: BUILTIN_MODEL,
      systemPrompt: "Quote and link the messages that answer the question.",
      temperature: 0,
    },
  ];
  const openai = providers.get("openai");
  if (openai) {
    seeds.push({
      name: "General assistant",
      provider: "openai",
      model: openai.defaultModel,
      systemPrompt: "You are a helpful assistant in a shared Parley session. Answer concisely.",
      temperature: 0.7,
    });
  }
  const ollama = providers.get("ollama");
  if (ollama) {
    seeds.push({
      name: "Local assistant (Ollama)",
      provider: "ollama",
      model: ollama.defaultModel,
      systemPrompt: "You are a helpful assistant in a shared Parley session. Answer concisely.",
      temperature: 0.7,
    });
  }
  // Sequential creates keep createdAt order: the built-in one is the default.
  for (const seed of seeds) await db.agent.create({ data: seed });
  return seeds.length;
}

export function listAgents(db: Db): Promise<Agent[]> {
  return db.agent.findMany({ orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

export async function createAgent(db: Db, providers: ProviderRegistry, input: z.output<typeof agentCreateInput>) {
  const provider = requireProvider(providers, input.provider);
  try {
    return await db.agent.create({
      data: {
        name: input.name,
        provider: input.provider,
        model: input.model ?? provider.defaultModel,
        systemPrompt: input.systemPrompt,
        temperature: input.temperature,
      },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new TRPCError({ code: "CONFLICT", message: `an agent named "${input.name}" already exists` });
    throw error;
  }
}

export async function updateAgent(db: Db, providers: ProviderRegistry, input: z.output<typeof agentUpdateInput>) {
  if (input.provider) requireProvider(providers, input.provider);
  const { id, ...data } = input;
  try {
    return await db.agent.update({ where: { id }, data });
  } catch (error) {
    if (isRecordNotFound(error)) throw agentNotFound(id);
    if (isUniqueViolation(error)) throw new TRPCError({ code: "CONFLICT", message: `an agent named "${input.name}" already exists` });
    throw error;
  }
}

/** Deletes the agent; sessions that named it as default fall back to the first agent. Old answers keep their metadata. */
export async function deleteAgent(db: Db, id: string) {
  try {
    await db.agent.delete({ where: { id } });
    return { id };
  } catch (error) {
    if (isRecordNotFound(error)) throw agentNotFound(id);
    throw error;
  }
}

export async function setSessionDefaultAgent(db: Db, input: z.output<typeof agentSetSessionDefaultInput>) {
  if (input.agentId !== null) {
    const agent = await db.agent.findUnique({ where: { id: input.agentId }, select: { id: true } });
    if (!agent) throw agentNotFound(input.agentId);
  }
  try {
    const session = await db.session.update({
      where: { id: input.sessionId },
      data: { defaultAgentId: input.agentId },
      select: { id: true, defaultAgentId: true },
    });
    return { sessionId: session.id, defaultAgentId: session.defaultAgentId };
  } catch (error) {
    if (isRecordNotFound(error)) throw sessionNotFound(input.sessionId);
    throw error;
  }
}

/** The agent that answers: the named one, else the session's default, else the first agent, else the built-in fallback. */
export async function resolveAgent(db: Db, agentId: string | undefined, sessionDefaultAgentId: string | null): Promise<AgentConfig> {
  let agent: Agent | null = null;
  if (agentId) {
    agent = await db.agent.findUnique({ where: { id: agentId } });
    if (!agent) throw agentNotFound(agentId);
  } else if (sessionDefaultAgentId) {
    agent = await db.agent.findUnique({ where: { id: sessionDefaultAgentId } });
  }
  agent ??= await db.agent.findFirst({ orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
  if (!agent) return FALLBACK_AGENT;
  const provider = providerSchema.safeParse(agent.provider);
  if (!provider.success) {
    throw new TRPCError({
      code: "PRECONDITION_FAILED",
      message: `agent "${agent.name}" names provider "${agent.provider}", which Parley does not know (${providerIds.join(", ")}); fix it with agent.update`,
    });
  }
  return {
    id: agent.id,
    name: agent.name,
    provider: provider.data,
    model: agent.model,
    systemPrompt: agent.systemPrompt,
    temperature: agent.temperature,
  };
}
