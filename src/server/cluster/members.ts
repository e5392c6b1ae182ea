// Which Parley instances are up, as this one hears them on the shared bus.
// An instance says hello when it starts (the others answer "here"), repeats
// "here" every HEARTBEAT_MS, and says bye when it stops; one not heard for
// MEMBER_TTL_MS is taken as gone. Cluster requests (the connection list) wait
// for the instances listed here, and no longer.
import os from "node:os";
import { channel, type Bus, type Unsubscribe } from "../bus/bus";
import type { Config } from "../env";

/**
 * This server's name among instances: PARLEY_INSTANCE, else `<hostname>:<port>`
 * (the listening port, known once the server listens). It labels metrics and
 * connections and addresses commands, so it must be unique in a cluster.
 */
export function instanceName(config: Pick<Config, "PARLEY_INSTANCE">, port: number): string {
  return config.PARLEY_INSTANCE ?? `${os.hostname()}:${port}`;
}

interface MemberAnnouncement {
  kind: "hello" | "here" | "bye";
  instance: string;
}

export const membersChannel = channel<MemberAnnouncement>("cluster:members");

const HEARTBEAT_MS = 5_000;
/** Three missed heartbeats: gone (a crashed instance drops out of listings after this). */
export const MEMBER_TTL_MS = 3 * HEARTBEAT_MS;

export class ClusterMembers {
  private readonly lastHeard = new Map<string, number>();
  private unsubscribe: Unsubscribe = () => undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private self = "";

  /**
   * @param shared whether the bus reaches other instances (REDIS_URL); without
   *   it the cluster is this instance alone and nothing is sent.
   */
  constructor(
    private readonly bus: Bus,
    readonly shared: boolean,
  ) {}

  /** This instance's name; empty before start. */
  get instance(): string {
    return this.self;
  }

  start(instance: string): void {
    this.self = instance;
    if (!this.shared) return;
    this.unsubscribe = this.bus.subscribe(membersChannel, (a) => {
      if (a.instance === this.self) return;
      if (a.kind === "bye") {
        this.lastHeard.delete(a.instance);
        return;
      }
      const known = this.lastHeard.has(a.instance);
      this.heard(a.instance);
      if (a.kind === "hello" && !known) this.bus.publish(membersChannel, { kind: "here", instance: this.self });
    });
    this.bus.publish(membersChannel, { kind: "hello", instance: this.self });
    this.heartbeat = setInterval(() => this.bus.publish(membersChannel, { kind: "here", instance: this.self }), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Any sign of life from `instance` (an announcement, a reply). */
  heard(instance: string): void {
    if (instance !== this.self) this.lastHeard.set(instance, Date.now());
  }

  /** Every instance up now, this one first, the others sorted by name. */
  alive(): string[] {
    const cutoff = Date.now() - MEMBER_TTL_MS;
    const others: string[] = [];
    for (const [instance, at] of this.lastHeard) {
      if (at < cutoff) this.lastHeard.delete(instance);
      else others.push(instance);
    }
    return [this.self, ...others.sort()];
  }

  close(): void {
    clearInterval(this.heartbeat);
    if (this.shared && this.self) this.bus.publish(membersChannel, { kind: "bye", instance: this.self });
    this.unsubscribe();
  }
}
