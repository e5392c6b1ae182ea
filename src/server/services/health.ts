// The health report served at GET /api/health and by `system.health`.
import type { ServerDeps } from "../context";
import { pingDb } from "../db";

export async function healthReport({ db, bus, runtime }: ServerDeps) {
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
