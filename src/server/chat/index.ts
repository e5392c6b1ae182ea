// Chat start-up, in the order it must happen: providers from the
// configuration, the run registry, answers left streaming by a crash marked
// "interrupted", default agents seeded on first start.
import type { Logger } from "pino";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import type { Config } from "../env";
import type { MemoryService } from "../memory";
import { seedDefaultAgents } from "./agents";
import { createProviders } from "./providers";
import { ChatRunRegistry, type RunMemoryContext } from "./runs";

export async function createChat(deps: { db: Db; bus: Bus; log: Logger; config: Config; memory?: MemoryService }): Promise<ChatRunRegistry> {
  const log = deps.log.child({ component: "chat" });
  const providers = createProviders(deps.config, deps.db, deps.memory);
  const registry = new ChatRunRegistry({ ...deps, log, providers, memoryContext: memoryContext(deps.memory, deps.config.CHAT_MEMORY_CONTEXT, log) });
  await registry.recoverInterrupted();
  const seeded = await seedDefaultAgents(deps.db, providers);
  // Provider ids only: base URLs may carry credentials, keys are never logged.
  log.info({ providers: [...providers.keys()], seededAgents: seeded }, "chat ready");
  return registry;
}

/**
 * Agents with a model provider are told the CHAT_MEMORY_CONTEXT best public
 * memories of their scopes (global, the agent's, the session's) for the
 * question. The built-in assistant quotes memories itself. A failed recall
 * leaves the run without memories, never without an answer.
 */
function memoryContext(memory: MemoryService | undefined, limit: number, log: Logger): RunMemoryContext | undefined {
  if (!memory || limit === 0) return undefined;
  return async ({ sessionId, agent, question }) => {
    if (agent.provider === "builtin") return null;
    try {
      return await memory.runContext({ sessionId, agentId: agent.id, question, limit });
    } catch (error) {
      log.warn({ err: error, sessionId }, "memories for the run could not be read; it runs without them");
      return null;
    }
  };
}
