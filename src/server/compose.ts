// The one composition root: builds every part of a server in order, hands
// each part what it needs, and gives back the parts (ServerDeps: what every
// call's context carries), how to start what runs in the background once the
// port is known, and how to close everything in reverse order. No part builds
// another part on its own, and nothing is kept in module-level state.
import type { Logger } from "pino";
import { Auth } from "./auth";
import type { Bus } from "./bus/bus";
import { MemoryBus } from "./bus/memory";
import { RedisBus } from "./bus/redis";
import { seedDefaultAgents } from "./chat/agents";
import { createProviders } from "./chat/providers";
import { ChatRunRegistry } from "./chat/runs";
import { ClusterConnections } from "./cluster/connections";
import { ClusterMembers, instanceName } from "./cluster/members";
import { ClusterMetrics } from "./cluster/metrics";
import type { ServerDeps } from "./context";
import { openStorage } from "./db";
import type { Config } from "./env";
import { MemoryService } from "./memory";
import { createEmbedder } from "./memory/embedder";
import { MetricsCollector } from "./metrics/collector";
import { QueryLabels } from "./metrics/db-queries";
import { HubStats } from "./metrics/hub-stats";
import { PrometheusEndpoint } from "./metrics/prometheus";
import { ConnectionRegistry } from "./realtime/connection";
import { FaultInjector, parseFaults } from "./realtime/faults";
import { Hub } from "./realtime/hub";
import { SessionStreams } from "./realtime/session-stream";
import { AgentEventLog } from "./services/agent-events";
import { MessageWriter } from "./services/message-writer";
import { PresenceTracker } from "./services/presence";
import { SessionLog } from "./services/session-log";
import { PARLEY_VERSION } from "./version";

export interface ComposedServer {
  deps: ServerDeps;
  /** PARLEY_FAULTS in effect (with counts of what it did), or null. */
  faults: FaultInjector | null;
  /** GET /api/metrics. */
  prometheus: PrometheusEndpoint;
  /** Once the server listens on `port`: the instance's name is known; cluster, metrics, retention and revocation polling start. */
  start(port: number): void;
  /** After the server stopped taking connections: everything, in reverse order of building. */
  close(): Promise<void>;
}

/** PARLEY_FAULTS, validated; refused in production unless PARLEY_FAULTS_IN_PRODUCTION=yes. */
function createFaults(config: Config, log: Logger): FaultInjector | null {
  if (!config.PARLEY_FAULTS) return null;
  if (config.NODE_ENV === "production" && config.PARLEY_FAULTS_IN_PRODUCTION !== "yes") {
    throw new Error("PARLEY_FAULTS is set but NODE_ENV is production: set PARLEY_FAULTS_IN_PRODUCTION=yes if you really mean to break production traffic");
  }
  const spec = parseFaults(config.PARLEY_FAULTS);
  log.warn({ faults: spec }, "fault injection is ON: subscription frames will be dropped, duplicated, delayed or disconnected on purpose");
  return new FaultInjector(spec);
}

export async function composeServer(config: Config, log: Logger, connectionCount: () => number): Promise<ComposedServer> {
  const faults = createFaults(config, log);

  // Storage and the bus: what every other part writes to and hears from.
  const stats = new HubStats();
  // Every statement sent to the database, with the driver's time for it.
  const labels = new QueryLabels();
  const storage = await openStorage(config.DATABASE_URL, (sql, ms) => stats.recordDbQuery(labels.of(sql), ms));
  const { db } = storage;
  const busLog = log.child({ component: "bus" });
  // REDIS_URL selects the Redis bus (scale-out); the in-process bus otherwise.
  const bus: Bus = config.REDIS_URL ? await RedisBus.connect({ url: config.REDIS_URL, log: busLog }) : new MemoryBus(busLog);

  // The typed event log: the memory feature (next) publishes its figures there.
  const agentEvents = new AgentEventLog({
    db,
    bus,
    log: log.child({ component: "events" }),
    stats,
    limits: { maxCount: config.EVENTS_MAX_COUNT, maxAgeMs: config.EVENTS_MAX_AGE_MS, payloadMaxBytes: config.EVENTS_PAYLOAD_MAX_BYTES },
  });
  // Memories, before chat (assistants read them): the embedder (null without
  // EMBEDDINGS_PROVIDER) embeds in the background; the service stores, recalls
  // and streams changes.
  const embedder = createEmbedder(config, { db, bus, log: log.child({ component: "embeddings" }) });
  const memory = new MemoryService({ storage, bus, log, config, agentEvents, embedder });

  // The write side: the session log, message.post's group commit, chat runs.
  const sessionLog = new SessionLog(storage, bus);
  const messages = new MessageWriter(storage, sessionLog);
  const chatLog = log.child({ component: "chat" });
  const providers = createProviders(config, storage, memory);
  const chat = new ChatRunRegistry({ db, bus, sessionLog, log: chatLog, config, providers, memories: memory, typedEvents: agentEvents });
  await chat.recoverInterrupted();
  const seeded = await seedDefaultAgents(db, providers);
  // Provider ids only: base URLs may carry credentials, keys are never logged.
  chatLog.info({ providers: [...providers.keys()], seededAgents: seeded }, "chat ready");
  chat.onRunFinished((figures) => stats.recordChatRun(figures));

  // Who calls, and the read side: connections, the hub, session streams.
  const auth = new Auth({ db, bus, log, config });
  const connections = new ConnectionRegistry(
    stats,
    log.child({ component: "connections" }),
    { softBytes: config.WS_SOFT_BUFFER_BYTES, hardBytes: config.WS_MAX_BUFFER_BYTES },
    faults,
  );
  // Positions are checked only behind a bus that can lose messages (the in-process bus cannot).
  const hub = new Hub(bus, log.child({ component: "hub" }), sessionLog, config.REDIS_URL ? config.SESSION_POSITION_CHECK_MS : 0);
  const sessionStreams = new SessionStreams({
    hub,
    log: sessionLog,
    runs: chat,
    stats,
    queueLimit: config.SUBSCRIBER_QUEUE_LIMIT,
    frames: config.WS_DIRECT_FANOUT === "on",
  });
  // A revoked token closes that principal's sockets (its streams also end through their guards).
  const stopRevocations = auth.watch.on((change) => {
    if (change.type !== "token.revoked") return;
    const revoked = connections.list().filter((c) => c.principal.tokenId === change.tokenId);
    for (const c of revoked) connections.disconnect(c.connectionId, "credentials revoked");
    if (revoked.length > 0) log.info({ tokenId: change.tokenId, closed: revoked.length }, "closed connections of a revoked token");
  });

  // Presence, the cluster and the metrics that read them all.
  const presence = new PresenceTracker(bus, config.PRESENCE_TYPING_TTL_MS);
  // Only a shared bus has other instances to hear from; without one nothing goes on the bus.
  const members = new ClusterMembers(bus, Boolean(config.REDIS_URL));
  const clusterConnections = new ClusterConnections({ bus, members, registry: connections, log: log.child({ component: "cluster" }) });
  const metrics = new MetricsCollector({
    db,
    bus,
    log: log.child({ component: "metrics" }),
    stats,
    sampleMs: config.METRICS_SAMPLE_MS,
    historyMs: config.METRICS_HISTORY_MS,
    nvidiaSmi: config.METRICS_NVIDIA_SMI,
    connectionCount: () => connections.size,
    presenceMembers: () => presence.memberCount(),
    activeChatRuns: () => chat.activeCount,
  });
  const clusterMetrics = new ClusterMetrics({ bus, members, collector: metrics, sampleMs: config.METRICS_SAMPLE_MS, historyMs: config.METRICS_HISTORY_MS });
  const prometheus = new PrometheusEndpoint({ stats, collector: metrics, bus, log });

  const deps: ServerDeps = {
    config,
    db,
    storage,
    bus,
    log,
    runtime: { version: PARLEY_VERSION, startedAt: new Date(), connectionCount },
    sessionLog,
    messages,
    sessionStreams,
    chat,
    auth,
    stats,
    metrics,
    connections,
    presence,
    agentEvents,
    cluster: { members, connections: clusterConnections, metrics: clusterMetrics },
    memory,
  };

  return {
    deps,
    faults,
    prometheus,
    start(port) {
      const instance = instanceName(config, port);
      members.start(instance);
      clusterConnections.start();
      clusterMetrics.start();
      metrics.start(instance);
      agentEvents.start();
      embedder?.start();
      prometheus.start(instance, PARLEY_VERSION);
      auth.start();
      hub.start();
    },
    async close() {
      stopRevocations();
      hub.close();
      auth.close();
      clusterConnections.close();
      clusterMetrics.close();
      members.close();
      metrics.close();
      presence.close();
      connections.close();
      prometheus.close();
      await chat.close(); // running answers end as "interrupted", saved before the database closes
      memory.close(); // its last coalesced events reach the event log before that closes
      await embedder?.close();
      await agentEvents.close();
      await bus.close();
      await storage.close();
    },
  };
}
