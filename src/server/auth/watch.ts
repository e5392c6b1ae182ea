// Live revocation. Revoking a token, disabling a principal or removing a
// member is published on the bus (so every instance hears it at once) and,
// for changes made by another process (`npm run token -- revoke`), found by
// polling the token table every AUTH_REVOCATION_POLL_MS. Listeners (the
// connection registry, subscription guards) end what the change revokes.
import type { Logger } from "pino";
import { channel, type Bus } from "../bus/bus";
import type { Db } from "../db";
import type { Principal } from "./principal";

export type AuthChange =
  | { type: "token.revoked"; tokenId: string; principalId: string }
  | { type: "member.removed"; sessionId: string; principalId: string };

export const authChannel = channel<AuthChange>("auth");

/** Revoked token ids remembered (a connection created before a revocation is refused by id). */
const REMEMBERED = 10_000;

export class AuthWatch {
  private readonly listeners = new Set<(change: AuthChange) => void>();
  private readonly revoked = new Set<string>();
  private unsubscribe: () => void = () => undefined;
  private timer: NodeJS.Timeout | undefined;
  private since = new Date();

  constructor(
    private readonly deps: { db: Db; bus: Bus; log: Logger; pollMs: number },
  ) {}

  /** Listen on the bus and poll for revocations and expiries made elsewhere (only with PARLEY_AUTH=on). */
  start(): void {
    this.unsubscribe = this.deps.bus.subscribe(authChannel, (change) => this.deliver(change));
    this.timer = setInterval(() => {
      this.poll().catch((error: unknown) => this.deps.log.warn({ err: error }, "revocation poll failed"));
    }, this.deps.pollMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    this.listeners.clear();
  }

  /** Announce a change made by this process (every instance hears it through the bus). */
  publish(change: AuthChange): void {
    this.deps.bus.publish(authChannel, change);
  }

  isRevoked(principal: Principal): boolean {
    return principal.tokenId !== null && this.revoked.has(principal.tokenId);
  }

  /** Call `listener` for every change until the returned function is called. */
  on(listener: (change: AuthChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(change: AuthChange): void {
    if (change.type === "token.revoked") {
      if (this.revoked.has(change.tokenId)) return;
      this.revoked.add(change.tokenId);
      if (this.revoked.size > REMEMBERED) {
        const oldest = this.revoked.values().next().value;
        if (oldest !== undefined) this.revoked.delete(oldest);
      }
    }
    for (const listener of [...this.listeners]) listener(change);
  }

  private async poll(): Promise<void> {
    const now = new Date();
    // A little overlap, so a revocation committed during the last poll is not missed.
    const from = new Date(this.since.getTime() - 2_000);
    const rows = await this.deps.db.apiToken.findMany({
      where: {
        OR: [
          { revokedAt: { gte: from } },
          { expiresAt: { gte: from, lte: now } },
          { principal: { disabledAt: { gte: from } } },
        ],
      },
      select: { id: true, principalId: true },
      take: 1_000,
    });
    this.since = now;
    for (const row of rows) this.deliver({ type: "token.revoked", tokenId: row.id, principalId: row.principalId });
  }
}
