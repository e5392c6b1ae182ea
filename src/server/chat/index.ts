// Chat start-up, in the order it must happen: providers from the
// configuration, the run registry, answers left streaming by a crash marked
// "interrupted", default agents seeded on first start.
import type { Logger } from "pino";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import type { SessionLog } from "../services/session-log";
import type { Config } from "../env";
import { seedDefaultAgents } from "./agents";
import { createProviders } from "./providers";
import { ChatRunRegistry } from "./runs";

export async function createChat(deps: { db: Db; bus: Bus; sessionLog: SessionLog; log: Logger; config: Config }): Promise<ChatRunRegistry> {
  const log = deps.log.child({ component: "chat" });
  const providers = createProviders(deps.config, deps.db);
  const registry = new ChatRunRegistry({ ...deps, log, providers });
  await registry.recoverInterrupted();
  const seeded = await seedDefaultAgents(deps.db, providers);
  // Provider ids only: base URLs may carry credentials, keys are never logged.
  log.info({ providers: [...providers.keys()], seededAgents: seeded }, "chat ready");
  return registry;
}
