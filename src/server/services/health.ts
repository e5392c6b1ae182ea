// The health report served at GET /api/health and by `system.health`.
import type { Bus } from "../bus/bus";
import { pingDb, type Db } from "../db";

/** Live figures of the running server, read by health. */
export interface ServerRuntime {
  version: string;
  startedAt: Date;
  /** Open WebSocket connections. */
  connectionCount(): number;
}

export async function healthReport({ db, bus, runtime }: { db: Db; bus: Bus; runtime: ServerRuntime }) {
  const dbUp = await pingDb(db);
  const busHealth = bus.health();
  return {
    status: dbUp && busHealth.status === "up" ? ("ok" as const) : ("degraded" as const),
    version: runtime.version,
    uptimeS: Math.round((Date.now() - runtime.startedAt.getTime()) / 1000),
    db: dbUp ? ("up" as const) : ("down" as const),
    bus: { ...busHealth, listeners: bus.listenerCount() },
    connections: runtime.connectionCount(),
  };
}

export type HealthReport = Awaited<ReturnType<typeof healthReport>>;
