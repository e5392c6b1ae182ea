// Issue 4's server parts, built together because they share the hub's
// counters: the metrics collector and its Prometheus registry, the connection
// registry, presence, and the typed agent event log. app.ts creates them once
// per server, starts them when the port is known, and closes them on shutdown.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { WebSocket } from "ws";
import type { Bus } from "../bus/bus";
import { ClusterConnections } from "../cluster/connections";
import { ClusterMembers, instanceName } from "../cluster/members";
import { ClusterMetrics } from "../cluster/metrics";
import type { Principal } from "../context";
import type { Db } from "../db";
import type { Config } from "../env";
import { AgentEventLog } from "../services/agent-events";
import { ConnectionRegistry } from "../services/connections";
import { PresenceTracker } from "../services/presence";
import { MetricsCollector } from "./collector";
import { type HubStats } from "./hub-stats";
import { instrumentBus, PublishStamps } from "./instrument";
import { createPrometheusRegistry } from "./prometheus";

export { type ChatRunMetrics, MetricsCollector } from "./collector";

export const METRICS_PATH = "/api/metrics";

/** What every call's context carries from issue 4 (see ServerDeps). */
export interface LiveDeps {
  metrics: MetricsCollector;
  connections: ConnectionRegistry;
  presence: PresenceTracker;
  agentEvents: AgentEventLog;
  /** The other instances, with a shared bus (REDIS_URL): who is up, every instance's connections and metrics. */
  cluster: { members: ClusterMembers; connections: ClusterConnections; metrics: ClusterMetrics };
}

export interface LiveHub {
  deps: LiveDeps;
  /** The bus, instrumented (publishes are stamped for fan-out latency). Use it instead of the one passed in. */
  bus: Bus;
  /** WSS 'connection' (prepend it, so it runs before tRPC's handler). */
  onConnection: (socket: WebSocket, req: IncomingMessage) => void;
  /** From the WS createContext: ties the socket to its context. */
  bindConnection: (req: IncomingMessage, connectionId: string, principal: Principal) => void;
  /** Start sampling and retention once the server listens on `port`. */
  start: (port: number, version: string) => void;
  /** The Prometheus registry; null before start. */
  prometheus: () => Registry | null;
  /** Answer GET /api/metrics (Prometheus text format 0.0.4). */
  serveMetrics: (req: IncomingMessage, res: ServerResponse) => void;
  close: () => Promise<void>;
}

export function createLiveHub(opts: { config: Config; db: Db; bus: Bus; log: Logger; stats: HubStats }): LiveHub {
  const { config, db, log, stats } = opts;
  const stamps = new PublishStamps();
  const bus = instrumentBus(opts.bus, stats, stamps);
  const connections = new ConnectionRegistry(
    stats,
    log.child({ component: "connections" }),
    { softBytes: config.WS_SOFT_BUFFER_BYTES, hardBytes: config.WS_MAX_BUFFER_BYTES },
    // Injected faults act on the frames tRPC sends, so with PARLEY_FAULTS every frame goes that way.
    config.WS_DIRECT_FANOUT === "on" && !config.PARLEY_FAULTS ? { stamps } : null,
  );
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
    stamps,
    connections,
    presenceMembers: () => presence.memberCount(),
  });
  const clusterMetrics = new ClusterMetrics({ bus, members, collector: metrics, sampleMs: config.METRICS_SAMPLE_MS, historyMs: config.METRICS_HISTORY_MS });
  const agentEvents = new AgentEventLog({
    db,
    bus,
    log: log.child({ component: "events" }),
    stats,
    limits: {
      maxCount: config.EVENTS_MAX_COUNT,
      maxAgeMs: config.EVENTS_MAX_AGE_MS,
      payloadMaxBytes: config.EVENTS_PAYLOAD_MAX_BYTES,
    },
  });
  let registry: Registry | null = null;

  return {
    deps: { metrics, connections, presence, agentEvents, cluster: { members, connections: clusterConnections, metrics: clusterMetrics } },
    bus,
    onConnection: (socket, req) => connections.attach(socket, req),
    bindConnection: (req, connectionId, principal) => connections.bind(req, connectionId, principal),
    start(port, version) {
      const instance = instanceName(config, port);
      members.start(instance);
      clusterConnections.start();
      clusterMetrics.start();
      metrics.start(instance);
      agentEvents.start();
      registry = createPrometheusRegistry({
        instance,
        version,
        stats,
        collector: metrics,
      });
    },
    prometheus: () => registry,
    serveMetrics(req, res) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
        res.end(`${METRICS_PATH} answers GET only\n`);
        return;
      }
      const current = registry;
      if (!current) {
        res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
        res.end("metrics are not started yet\n");
        return;
      }
      current.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": current.contentType, "cache-control": "no-store" });
          res.end(req.method === "HEAD" ? undefined : text);
        },
        (error: unknown) => {
          log.error({ err: error }, "rendering /api/metrics failed");
          res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
          res.end("metrics rendering failed\n");
        },
      );
    },
    async close() {
      clusterConnections.close();
      clusterMetrics.close();
      members.close();
      metrics.close();
      presence.close();
      connections.close();
      await agentEvents.close();
      registry?.clear();
    },
  };
}
