// The providers this server can use, built once from the configuration.
// "builtin" is always there; "openai" and "ollama" only when configured.
import type { ProviderId } from "../../../shared/chat";
import type { Storage } from "../../db";
import type { Config } from "../../env";
import type { MemoryService } from "../../memory";
import { BuiltinRetrievalProvider } from "./builtin";
import { OllamaProvider } from "./ollama";
import { OpenAiCompatibleProvider } from "./openai-compatible";
import type { ChatProvider } from "./provider";

export type ProviderRegistry = ReadonlyMap<ProviderId, ChatProvider>;

/** `memory`: the memories the built-in assistant quotes (without it, messages only). */
export function createProviders(config: Config, storage: Storage, memory?: MemoryService): ProviderRegistry {
  const providers = new Map<ProviderId, ChatProvider>();
  const builtin = { db: storage.db, postgres: storage.dialect === "postgres", chunkDelayMs: config.CHAT_BUILTIN_CHUNK_DELAY_MS, memory };
  providers.set("builtin", new BuiltinRetrievalProvider(builtin));
  if (config.OPENAI_BASE_URL || config.OPENAI_API_KEY) {
    providers.set(
      "openai",
      new OpenAiCompatibleProvider({
        baseUrl: config.OPENAI_BASE_URL ?? "https://api.openai.com",
        apiKey: config.OPENAI_API_KEY,
        defaultModel: config.OPENAI_DEFAULT_MODEL,
        stallMs: config.CHAT_STALL_TIMEOUT_MS,
      }),
    );
  }
  if (config.OLLAMA_HOST) {
    providers.set(
      "ollama",
      new OllamaProvider({ host: config.OLLAMA_HOST, defaultModel: config.OLLAMA_DEFAULT_MODEL, stallMs: config.CHAT_STALL_TIMEOUT_MS }),
    );
  }
  return providers;
}
