// Parley's configuration: every environment variable, its default and its
// limits, parsed once with zod. Nothing else in the server reads process.env.
import net from "node:net";
import { z } from "zod";

/** `10.0.0.1`, `::1`, `10.0.0.0/8`, `fd00::/8`: what PARLEY_TRUSTED_PROXIES lists. */
function isAddressOrCidr(entry: string): boolean {
  const [address = "", bits, ...rest] = entry.split("/");
  const family = net.isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const configSchema = z.object({
  /** Set by server.ts, overriding the environment: production, or development with `--dev` (`npm run dev`). In-process test servers pass `test`. */
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  /** Interface to bind. Loopback by default so nothing is exposed by accident. */
  HOST: z.string().min(1).default("127.0.0.1"),
  /** The one port for HTTP, Next.js and the WebSocket endpoint. 0 picks a free port. */
  PORT: int(3000, 0, 65535),
  /**
   * SQLite file (`file:./data/parley.db`, relative to the working directory), or
   * PostgreSQL (`postgresql://user:password@host:5432/db`) for several instances (scale-out).
   */
  DATABASE_URL: z
    .string()
    .regex(
      /^(file:|postgres(ql)?:\/\/)/,
      "DATABASE_URL must be a SQLite URL (file:...) or a PostgreSQL URL (postgresql://... or postgres://...)",
    )
    .default("file:./data/parley.db"),
  /** pino level. */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Server ping interval for WebSocket keep-alive. */
  WS_PING_INTERVAL_MS: int(30_000, 100, 600_000),
  /** A connection that does not answer a ping within this time is closed. */
  WS_PONG_TIMEOUT_MS: int(5_000, 100, 600_000),
  /** Largest WebSocket frame accepted; a bigger one closes that connection with 1009. */
  WS_MAX_PAYLOAD_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Fault injection on WebSocket subscription data, e.g. `drop=0.01,duplicate=0.01,delay=50ms,disconnectEvery=30s` (see src/server/realtime/faults.ts). Off when unset. */
  PARLEY_FAULTS: z.string().max(500).optional(),
  /** PARLEY_FAULTS is refused when NODE_ENV is production unless this is `yes`. */
  PARLEY_FAULTS_IN_PRODUCTION: z.enum(["yes", "no"]).default("no"),
  /** Queued bytes on one connection past which resumable streams pause (deltas merge; persisted events are re-read later). */
  WS_SOFT_BUFFER_BYTES: int(1024 * 1024, 16 * 1024, 1024 * 1024 * 1024),
  /** Queued bytes on one connection past which it is dropped; its client reconnects and resumes. */
  WS_MAX_BUFFER_BYTES: int(8 * 1024 * 1024, 64 * 1024, 4 * 1024 * 1024 * 1024),
  /** Session streams on WebSockets have their events written to the socket as prebuilt frames (realtime/session-stream.ts); `off` sends every event through tRPC's subscription loop (for comparison). */
  WS_DIRECT_FANOUT: z.enum(["on", "off"]).default("on"),
  /** Plain JSON queries and mutations over HTTP are answered without tRPC's Fetch adaptation (http-calls.ts), same bytes; `off` sends every request through tRPC's Node handler (for comparison). */
  HTTP_DIRECT_CALLS: z.enum(["on", "off"]).default("on"),
  /** Largest message content accepted by `message.post` (UTF-8 bytes). */
  MESSAGE_MAX_BYTES: int(64 * 1024, 1, 16 * 1024 * 1024),
  /** Events a subscriber may have queued before it is re-synchronised from the database. */
  SUBSCRIBER_QUEUE_LIMIT: int(1_000, 10, 1_000_000),
  /** Graceful shutdown deadline; remaining sockets are destroyed after it. */
  SHUTDOWN_TIMEOUT_MS: int(5_000, 100, 60_000),
  /**
   * The web app (Next.js) is prepared on the first page request, or this long after the API listens.
   * Its prepare loads modules synchronously in long stretches; deferred, it does not hold up the
   * clients reconnecting after a restart.
   */
  WEB_PREPARE_DELAY_MS: int(10_000, 0, 600_000),

  // --- Scale-out: the Redis bus. ------------------------------------------
  // Unset: the in-process bus (one instance). Set it on every instance that
  // shares one database, so events posted on any of them reach all.
  /** `redis://[user:password@]host:port[/db]` or `rediss://...`; selects the Redis bus. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "REDIS_URL must start with redis:// or rediss://")
    .optional(),
  /**
   * With REDIS_URL: how often each instance compares the last seq of every
   * session it streams with the database (one batched query), so an event the
   * bus lost reaches caught-up subscribers within two of these.
   */
  SESSION_POSITION_CHECK_MS: int(500, 50, 60_000),
  // --- end of scale-out configuration -------------------------------------

  // --- Chat: providers, defaults and run limits. -------------------------
  // With no provider configured, the built-in retrieval assistant answers.
  // API keys are read here only; they are never logged or returned to clients.
  /** OpenAI-compatible server (OpenAI, vLLM, llama.cpp, LM Studio, Ollama's /v1); `/v1/chat/completions` is appended. Setting it (or OPENAI_API_KEY) enables provider "openai". */
  OPENAI_BASE_URL: z.url().optional(),
  /** Bearer key for the OpenAI-compatible server (default base URL https://api.openai.com when only the key is set). */
  OPENAI_API_KEY: z.string().min(1).optional(),
  /** Model of the seeded OpenAI-compatible agent. */
  OPENAI_DEFAULT_MODEL: z.string().min(1).default("gpt-4o-mini"),
  /** Ollama host for its native NDJSON API (`/api/chat`); setting it enables provider "ollama". */
  OLLAMA_HOST: z.url().optional(),
  /** Model of the seeded Ollama agent. */
  OLLAMA_DEFAULT_MODEL: z.string().min(1).default("llama3.2"),
  /** Pause between chunks of the built-in assistant's answer, so it streams visibly (0 = as fast as possible). */
  CHAT_BUILTIN_CHUNK_DELAY_MS: int(15, 0, 1_000),
  /** Runs streaming at once on this server; one more is refused with TOO_MANY_REQUESTS. */
  CHAT_MAX_CONCURRENT_RUNS: int(16, 1, 10_000),
  /** Runs streaming at once in one session; one more is refused with CONFLICT. */
  CHAT_MAX_RUNS_PER_SESSION: int(1, 1, 100),
  /** A run still streaming after this long is aborted and ends with status error. */
  CHAT_RUN_TIMEOUT_MS: int(120_000, 100, 3_600_000),
  /** A provider stream that sends nothing for this long is aborted (status error, "stalled"). */
  CHAT_STALL_TIMEOUT_MS: int(30_000, 50, 600_000),
  /** Earlier messages of the session sent to a provider as context. */
  CHAT_HISTORY_MESSAGES: int(40, 1, 1_000),
  /** A run publishes at most one `llm.token` typed event (text and token count since the last) this often. */
  CHAT_TOKEN_EVENT_MS: int(250, 10, 60_000),
  // --- end of chat configuration ------------------------------------------
  // --- Metrics, typed events and presence. -------------------------------
  /** How often the metrics collector samples. */
  METRICS_SAMPLE_MS: int(1_000, 50, 60_000),
  /** Metrics history kept in memory and replayed by metrics.live (default 10 minutes). */
  METRICS_HISTORY_MS: int(600_000, 1_000, 86_400_000),
  /** The `instance` label on every /api/metrics series; default `<hostname>:<port>`. */
  PARLEY_INSTANCE: z.string().min(1).max(200).optional(),
  /** The nvidia-smi command for GPU metrics; when it cannot run, GPU metrics are absent (no error). */
  METRICS_NVIDIA_SMI: z.string().min(1).default("nvidia-smi"),
  /** Typed events kept: the newest this many; older ones are deleted and never served. */
  EVENTS_MAX_COUNT: int(100_000, 1, 100_000_000),
  /** Typed events older than this are deleted and never served (default 7 days). */
  EVENTS_MAX_AGE_MS: int(7 * 86_400_000, 1_000, 3_650 * 86_400_000),
  /** Largest event `data` as JSON (custom.* included); more is refused with PAYLOAD_TOO_LARGE. */
  EVENTS_PAYLOAD_MAX_BYTES: int(16_384, 256, 1_048_576),
  /** A typing mark disappears this long after its last presence.typing call. */
  PRESENCE_TYPING_TTL_MS: int(3_000, 100, 60_000),
  // --- end of metrics, events and presence configuration -----------------

  // --- Authentication, origins and limits. -------------------------------
  // Auth is on by default. PARLEY_AUTH=off makes every caller a local admin
  // (one principal per connection, nothing stored) and is refused unless HOST
  // is a loopback address. Limits answer TOO_MANY_REQUESTS with a retry-after.
  /** on: callers authenticate (cookie, Bearer token, WS connectionParams.token); off: local development only. */
  PARLEY_AUTH: z.enum(["on", "off"]).default("on"),
  /**
   * Comma-separated origins of other sites (`https://app.example.com`) allowed besides the server's own:
   * they may open the WebSocket, use the session cookie, and get CORS answers from /api/trpc (auth/cors.ts).
   */
  PARLEY_ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(",").map((o) => o.trim().toLowerCase().replace(/\/+$/, "")).filter(Boolean) : []))
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/?#\s]+$/, "each origin must be scheme://host[:port], e.g. https://app.example.com"))),
  /** The server's public base URL (`https://parley.example.com`), for printed links such as the first sign-in URL; its host name is accepted (PARLEY_ALLOWED_HOSTS). */
  PUBLIC_URL: z.url().optional(),
  /**
   * Host names (the Host header, port ignored) the server answers besides loopback names (when bound to
   * loopback or all interfaces), IP addresses (when bound to all interfaces) and PUBLIC_URL's host: comma-separated,
   * `*.example.com` for subdomains, `*` for any name (the check off). Anything else gets 421 (auth/hosts.ts).
   */
  PARLEY_ALLOWED_HOSTS: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(",").map((h) => h.trim().toLowerCase().replace(/\.$/, "")).filter(Boolean) : []))
    .pipe(z.array(z.string().regex(/^(\*|(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$/, "each entry must be a host name, *.domain or *"))),
  /**
   * Addresses or CIDRs (`127.0.0.1`, `10.0.0.0/8`, `fd00::/8`) of proxies whose X-Forwarded-For and
   * X-Forwarded-Proto are believed: limits then key on the client they name, and the cookie is Secure when
   * they say https. Off (unset) by default: the TCP peer is the client (auth/proxies.ts).
   */
  PARLEY_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(",").map((a) => a.trim()).filter(Boolean) : []))
    .pipe(z.array(z.string().refine(isAddressOrCidr, "each entry must be an IP address or a CIDR such as 10.0.0.0/8"))),
  /** How long the first-start sign-in link stays valid (it also works only once). */
  AUTH_SIGNIN_TTL_MS: int(15 * 60_000, 10_000, 86_400_000),
  /** How long the web UI's session cookie lasts. */
  AUTH_COOKIE_TTL_MS: int(30 * 86_400_000, 60_000, 365 * 86_400_000),
  /** How often the server looks for tokens revoked or expired by another process (`npm run token -- revoke`). */
  AUTH_REVOCATION_POLL_MS: int(500, 50, 60_000),
  /** How long a session access check is reused per (principal, session); 0 looks it up on every call (auth/access.ts). */
  ACCESS_CACHE_MS: int(1_000, 0, 60_000),
  /** Calls per second per connection (token bucket; HTTP: per keep-alive connection). */
  RATE_LIMIT_PER_CONNECTION: int(1_000, 1, 1_000_000),
  /** Calls per second per principal, over all its connections. */
  RATE_LIMIT_PER_PRINCIPAL: int(2_000, 1, 1_000_000),
  /** Extra calls allowed above the per-second rates, refilled over 10 s (bucket size = rate + burst). */
  RATE_LIMIT_BURST: int(5_000, 0, 1_000_000),
  /** Subscriptions open at once on one connection. */
  MAX_SUBSCRIPTIONS_PER_CONNECTION: int(100, 1, 100_000),
  /** WebSocket connections open at once per principal. */
  MAX_CONNECTIONS_PER_PRINCIPAL: int(20, 1, 100_000),
  /** WebSocket connections open at once per client address. */
  MAX_CONNECTIONS_PER_ADDRESS: int(50, 1, 100_000),
  /** Chat runs streaming at once per principal. */
  CHAT_MAX_RUNS_PER_PRINCIPAL: int(2, 1, 10_000),
  // --- end of authentication configuration --------------------------------

  // --- Memory and search (src/server/memory, src/server/search). ----------
  // Full-text ranking always; vector similarity too when an embeddings
  // provider is set. Embedding runs in the background: a stored memory is
  // recallable by its words at once, and by meaning once embedded.
  /** Largest memory content (UTF-8 bytes); more is refused with PAYLOAD_TOO_LARGE. */
  MEMORY_MAX_BYTES: int(16 * 1024, 64, 1024 * 1024),
  /** Memories stored per principal per minute (token bucket); past it TOO_MANY_REQUESTS. */
  MEMORY_WRITES_PER_MINUTE: int(600, 1, 1_000_000),
  /** memory.events changes kept: the newest this many; a cursor older than them resumes from the oldest kept. */
  MEMORY_EVENTS_MAX_COUNT: int(100_000, 100, 100_000_000),
  /** `openai` (OpenAI-compatible /v1/embeddings) or `ollama` (/api/embed); unset: text ranking only. */
  EMBEDDINGS_PROVIDER: z.enum(["openai", "ollama"]).optional(),
  /** Base URL of the embeddings server (default https://api.openai.com for openai, OLLAMA_HOST for ollama). */
  EMBEDDINGS_BASE_URL: z.url().optional(),
  /** Bearer key for an OpenAI-compatible embeddings server (default OPENAI_API_KEY). Never logged. */
  EMBEDDINGS_API_KEY: z.string().min(1).optional(),
  /** Embedding model name. */
  EMBEDDINGS_MODEL: z.string().min(1).max(200).default("text-embedding-3-small"),
  /** One embeddings request waits at most this long. */
  EMBEDDINGS_TIMEOUT_MS: int(10_000, 50, 600_000),
  /** Memories embedded per request. */
  EMBEDDINGS_BATCH_SIZE: int(32, 1, 2_048),
  /** Attempts per memory before it stays text-only (each retry waits twice as long as the last, from 1 s). */
  EMBEDDINGS_MAX_ATTEMPTS: int(6, 1, 100),
  /** How long recall waits for the query's embedding before answering by text alone. */
  EMBEDDINGS_QUERY_TIMEOUT_MS: int(2_000, 10, 60_000),
  /** Memories an agent with a model provider is given as context per run (0: none). */
  CHAT_MEMORY_CONTEXT: int(5, 0, 50),
  // --- end of memory and search configuration ----------------------------

  // --- Prisma Studio (`npm run studio`, src/studio/). ---------------------
  /** Interface `npm run studio` binds. Loopback by default: Studio reads and edits every row, without sign-in. */
  STUDIO_HOST: z.string().min(1).default("127.0.0.1"),
  /** Port of `npm run studio` (Prisma Studio's usual 5555). 0 picks a free port. */
  STUDIO_PORT: int(5555, 0, 65535),
});

/** Loopback interfaces: the only ones PARLEY_AUTH=off may bind to. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

export type Config = z.infer<typeof configSchema>;

/** Parse a configuration from an environment record; throws a readable error naming each bad variable. */
export function parseConfig(source: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(source);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n${problems.join("\n")}`);
  }
  if (result.data.PARLEY_AUTH === "off" && !isLoopbackHost(result.data.HOST)) {
    throw new Error(
      `Invalid configuration:\n  PARLEY_AUTH=off with HOST=${result.data.HOST}: authentication may be off only on a loopback ` +
        `interface (127.0.0.1, ::1, localhost), where nobody else can reach the server. Set PARLEY_AUTH=on or bind to 127.0.0.1.`,
    );
  }
  return result.data;
}

/** True for a PostgreSQL DATABASE_URL (`postgres://` or `postgresql://`); false for SQLite (`file:`). */
export function isPostgresUrl(databaseUrl: string): boolean {
  return /^postgres(ql)?:\/\//.test(databaseUrl);
}

/** The SQLite file path a `file:` URL names. */
export function sqlitePath(databaseUrl: string): string {
  return databaseUrl.replace(/^file:/, "");
}
