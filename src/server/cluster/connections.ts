// The connection registry across instances: `system.connections` lists the
// WebSocket connections of every instance, each labelled with its instance,
// and `system.disconnect` closes one wherever it lives. A request goes on the
// bus to every instance; each answers on the asker's own reply channel. Without
// a shared bus (no REDIS_URL) only the local registry is consulted, as before.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { channel, type Bus, type Unsubscribe } from "../bus/bus";
import type { ConnectionInfo, ConnectionRegistry } from "../realtime/connection";
import type { ClusterMembers } from "./members";

export interface ClusterConnectionInfo extends ConnectionInfo {
  /** The instance holding the socket (PARLEY_INSTANCE); pass it to `system.disconnect`. */
  instance: string;
}

export interface ConnectionListing {
  connections: ClusterConnectionInfo[];
  /** Instances that are up but did not answer within CLUSTER_REPLY_TIMEOUT_MS: their connections are missing. */
  unanswered: string[];
}

/** What `disconnect` did: closed it, found no such open connection, or heard nothing back in time. */
export type DisconnectOutcome = "disconnected" | "not-found" | "no-answer";

type ConnectionCommand =
  | { type: "list"; requestId: string; replyTo: string }
  | { type: "disconnect"; requestId: string; replyTo: string; instance: string; connectionId: string; reason: string };

type ConnectionReply =
  | { type: "list"; requestId: string; instance: string; connections: ConnectionInfo[] }
  | { type: "disconnect"; requestId: string; instance: string; disconnected: boolean };

/** A command as the caller writes it; `request` adds the routing fields. */
type WithoutRouting<C> = C extends unknown ? Omit<C, "requestId" | "replyTo"> : never;
type CommandBody = WithoutRouting<ConnectionCommand>;

const commandsChannel = channel<ConnectionCommand>("cluster:connections");
const replyChannel = (node: string) => channel<ConnectionReply>(`cluster:connections:reply:${node}`);

/** How long a cluster-wide listing or a remote disconnect waits for answers. */
export const CLUSTER_REPLY_TIMEOUT_MS = 1_000;

export class ClusterConnections {
  /** Routes replies to this process (instance names are labels; two processes never share this). */
  private readonly node = randomUUID();
  private readonly pending = new Map<string, (reply: ConnectionReply) => void>();
  private unsubscribes: Unsubscribe[] = [];

  constructor(
    private readonly deps: { bus: Bus; members: ClusterMembers; registry: ConnectionRegistry; log: Logger },
  ) {}

  /** Answer other instances' requests and hear their replies (with a shared bus only). */
  start(): void {
    const { bus, members } = this.deps;
    if (!members.shared) return;
    this.unsubscribes.push(
      bus.subscribe(commandsChannel, (command) => this.answer(command)),
      bus.subscribe(replyChannel(this.node), (reply) => {
        members.heard(reply.instance);
        this.pending.get(reply.requestId)?.(reply);
      }),
    );
  }

  close(): void {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
    for (const settle of this.pending.values()) settle({ type: "disconnect", requestId: "", instance: "", disconnected: false });
  }

  /** Every instance's open connections, oldest first. */
  async list(): Promise<ConnectionListing> {
    const { members, registry } = this.deps;
    const local = registry.list().map((c) => ({ ...c, instance: members.instance }));
    if (!members.shared) return { connections: local, unanswered: [] };
    const waiting = new Set(members.alive().slice(1));
    const remote: ClusterConnectionInfo[] = [];
    if (waiting.size > 0) {
      await this.request({ type: "list" }, (reply) => {
        if (reply.type !== "list") return false;
        for (const c of reply.connections) remote.push({ ...c, instance: reply.instance });
        waiting.delete(reply.instance);
        return waiting.size === 0;
      });
    }
    const connections = [...local, ...remote].sort((a, b) => a.connectedAt.getTime() - b.connectedAt.getTime());
    return { connections, unanswered: [...waiting] };
  }

  /** Close `connectionId` on `instance` (default: this one) with OPERATOR_DISCONNECT_CODE. */
  async disconnect(connectionId: string, instance: string | undefined, reason: string): Promise<DisconnectOutcome> {
    const { members, registry, log } = this.deps;
    if (instance === undefined || instance === members.instance) {
      return registry.disconnect(connectionId, reason) ? "disconnected" : "not-found";
    }
    if (!members.shared) return "not-found";
    let outcome: DisconnectOutcome = "no-answer";
    await this.request({ type: "disconnect", instance, connectionId, reason }, (reply) => {
      if (reply.type !== "disconnect" || reply.instance !== instance) return false;
      outcome = reply.disconnected ? "disconnected" : "not-found";
      return true;
    });
    log.info({ connectionId, instance, outcome }, "asked another instance to close a connection");
    return outcome;
  }

  /** Publish `command` and feed replies to `onReply` until it returns true or CLUSTER_REPLY_TIMEOUT_MS passes. */
  private request(command: CommandBody, onReply: (reply: ConnectionReply) => boolean): Promise<void> {
    const requestId = randomUUID();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve();
      };
      const timer = setTimeout(done, CLUSTER_REPLY_TIMEOUT_MS);
      this.pending.set(requestId, (reply) => {
        if (reply.requestId === "" || onReply(reply)) done();
      });
      this.deps.bus.publish(commandsChannel, { ...command, requestId, replyTo: this.node });
    });
  }

  private answer(command: ConnectionCommand): void {
    if (command.replyTo === this.node) return; // our own request: answered locally
    const { bus, members, registry } = this.deps;
    const instance = members.instance;
    if (command.type === "list") {
      bus.publish(replyChannel(command.replyTo), { type: "list", requestId: command.requestId, instance, connections: registry.list() });
    } else if (command.instance === instance) {
      const disconnected = registry.disconnect(command.connectionId, command.reason);
      bus.publish(replyChannel(command.replyTo), { type: "disconnect", requestId: command.requestId, instance, disconnected });
    }
  }
}
