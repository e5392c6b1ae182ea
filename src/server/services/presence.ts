// Presence and typing per session. A connection is present in a session for
// as long as its `session.presence` subscription runs: it joins when the
// subscription starts and leaves when it ends, which includes the socket
// closing without a goodbye (tRPC aborts the subscription when keep-alive
// terminates a socket that stopped answering pings). Typing marks expire
// after PRESENCE_TYPING_TTL_MS without a refresh.
//
// Each instance owns the members and typing marks of its own connections and
// announces that local view on the bus (on every change, and as a heartbeat
// while it has members or typing marks). Every instance merges the views it hears, dropping an
// instance's view when its heartbeats stop, so with several instances every
// subscriber sees the whole room. Every update carries the whole room, so a
// subscriber never has to reconcile deltas.
import { randomUUID } from "node:crypto";
import type { Principal } from "../auth/principal";
import { channel, type Bus, type Channel } from "../bus/bus";
import { BoundedQueue } from "./bounded-queue";

export interface PresenceMember {
  connectionId: string;
  principalId: string;
  name: string;
  /** The principal's chosen avatar colour, or null. */
  color: string | null;
  kind: Principal["kind"];
  joinedAt: Date;
}

export interface TypingMark {
  principalId: string;
  name: string;
  /** The mark disappears at this time unless refreshed. */
  until: Date;
}

export interface PresenceUpdate {
  /** `sync`: the room as it is now (first update of every subscription, and after a lost update). */
  kind: "sync" | "join" | "leave" | "typing";
  sessionId: string;
  /** Who joined, left, or started / stopped typing; null for sync. */
  principalId: string | null;
  members: PresenceMember[];
  typing: TypingMark[];
}

interface Room {
  /** By stream (a connection may watch the same session twice). */
  members: Map<number, PresenceMember>;
  typing: Map<string, { mark: TypingMark; timer: NodeJS.Timeout }>;
  /** Other instances' views, by instance. */
  remote: Map<string, { members: PresenceMember[]; typing: TypingMark[]; at: number }>;
  /** Local subscribers (streams) of this room. */
  listeners: Set<(update: PresenceUpdate) => void>;
  unsubscribe: (() => void) | null;
}

/** One instance's view of one room, as announced on the bus. */
interface Announcement {
  instance: string;
  sessionId: string;
  kind: PresenceUpdate["kind"] | "hello";
  principalId: string | null;
  members: PresenceMember[];
  typing: TypingMark[];
}

const presenceChannel = (sessionId: string): Channel<Announcement> => channel<Announcement>(`presence:${sessionId}`);

/** How often an instance re-announces the rooms it has members in. */
const HEARTBEAT_MS = 5_000;
/** A remote instance's view is dropped after this long without an announcement. */
const REMOTE_TTL_MS = 3 * HEARTBEAT_MS;

export class PresenceTracker {
  private readonly rooms = new Map<string, Room>();
  private nextStream = 0;
  /** Presence is ephemeral: a fresh id per process keeps instances apart even on one host. */
  private readonly instance = randomUUID();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly bus: Bus,
    private readonly typingTtlMs: number,
  ) {
    this.heartbeat = setInterval(() => {
      for (const [sessionId, room] of this.rooms) {
        if (room.members.size > 0 || room.typing.size > 0) this.announce(sessionId, "sync", null);
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Members present across all sessions (a connection in two sessions counts twice). */
  memberCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.members.size;
    return n;
  }

  /** Who is in each of `sessionIds` now, as its room shows it (every instance's members, each principal once). */
  present(sessionIds: readonly string[]): Map<string, { principalId: string; name: string }[]> {
    const out = new Map<string, { principalId: string; name: string }[]>();
    for (const sessionId of sessionIds) {
      const members = this.rooms.has(sessionId) ? this.state(sessionId, "sync", null).members : [];
      out.set(sessionId, [...new Map(members.map((m) => [m.principalId, { principalId: m.principalId, name: m.name }])).values()]);
    }
    return out;
  }

  private room(sessionId: string): Room {
    let room = this.rooms.get(sessionId);
    if (!room) {
      const created: Room = { members: new Map(), typing: new Map(), remote: new Map(), listeners: new Set(), unsubscribe: null };
      created.unsubscribe = this.bus.subscribe(presenceChannel(sessionId), (a) => this.heard(created, a));
      this.rooms.set(sessionId, created);
      room = created;
      // Ask the other instances for their view of this room.
      this.announce(sessionId, "hello", null);
    }
    return room;
  }

  /** Forget a room nobody here is in, watches or types in. */
  private release(sessionId: string, room: Room): void {
    if (room.members.size > 0 || room.typing.size > 0 || room.listeners.size > 0) return;
    room.unsubscribe?.();
    this.rooms.delete(sessionId);
  }

  private heard(room: Room, a: Announcement): void {
    if (a.instance === this.instance) return;
    if (a.kind === "hello") {
      // A newcomer: answer with our view if we have one.
      if (room.members.size > 0 || room.typing.size > 0) this.announce(a.sessionId, "sync", null);
      return;
    }
    if (a.members.length === 0 && a.typing.length === 0) room.remote.delete(a.instance);
    else room.remote.set(a.instance, { members: a.members, typing: a.typing, at: Date.now() });
    this.notify(room, this.state(a.sessionId, a.kind, a.principalId));
  }

  /** The whole room: this instance's members and marks plus every live remote view. */
  private state(sessionId: string, kind: PresenceUpdate["kind"], principalId: string | null): PresenceUpdate {
    const room = this.rooms.get(sessionId);
    const members = room ? [...room.members.values()] : [];
    const typing = room ? [...room.typing.values()].map((t) => t.mark) : [];
    const now = Date.now();
    for (const [instance, view] of room?.remote ?? []) {
      if (now - view.at > REMOTE_TTL_MS) {
        room?.remote.delete(instance);
        continue;
      }
      members.push(...view.members);
      typing.push(...view.typing.filter((t) => new Date(t.until).getTime() > now));
    }
    return { kind, sessionId, principalId, members, typing };
  }

  private notify(room: Room, update: PresenceUpdate): void {
    for (const listener of [...room.listeners]) listener(update);
  }

  private announce(sessionId: string, kind: Announcement["kind"], principalId: string | null): void {
    const room = this.rooms.get(sessionId);
    this.bus.publish(presenceChannel(sessionId), {
      instance: this.instance,
      sessionId,
      kind,
      principalId,
      members: room ? [...room.members.values()] : [],
      typing: room ? [...room.typing.values()].map((t) => t.mark) : [],
    });
  }

  /** A local change: tell local subscribers (with the merged room) and the other instances. */
  private publish(sessionId: string, kind: PresenceUpdate["kind"], principalId: string | null): void {
    const room = this.rooms.get(sessionId);
    if (room) this.notify(room, this.state(sessionId, kind, principalId));
    this.announce(sessionId, kind, principalId);
  }

  private join(sessionId: string, connectionId: string, principal: Principal): number {
    const key = ++this.nextStream;
    this.room(sessionId).members.set(key, {
      connectionId,
      principalId: principal.id,
      name: principal.name,
      color: principal.avatarColor ?? null,
      kind: principal.kind,
      joinedAt: new Date(),
    });
    this.publish(sessionId, "join", principal.id);
    return key;
  }

  private leave(sessionId: string, key: number): void {
    const room = this.rooms.get(sessionId);
    const member = room?.members.get(key);
    if (!room || !member) return;
    room.members.delete(key);
    // A principal with no connection left in the room stops typing.
    const stillHere = [...room.members.values()].some((m) => m.principalId === member.principalId);
    const typing = room.typing.get(member.principalId);
    if (!stillHere && typing) {
      clearTimeout(typing.timer);
      room.typing.delete(member.principalId);
    }
    this.publish(sessionId, "leave", member.principalId);
  }

  /** Mark `principal` as typing in the session for typingTtlMs (refreshes), or clear the mark. */
  setTyping(sessionId: string, principal: Principal, typing: boolean): TypingMark | null {
    const room = this.room(sessionId);
    const previous = room.typing.get(principal.id);
    if (previous) clearTimeout(previous.timer);
    if (!typing) {
      room.typing.delete(principal.id);
      if (previous) this.publish(sessionId, "typing", principal.id);
      this.release(sessionId, room);
      return null;
    }
    const mark: TypingMark = { principalId: principal.id, name: principal.name, until: new Date(Date.now() + this.typingTtlMs) };
    const timer = setTimeout(() => this.setTyping(sessionId, principal, false), this.typingTtlMs);
    timer.unref();
    room.typing.set(principal.id, { mark, timer });
    // A refresh that changes nothing but the deadline is not news.
    if (!previous) this.publish(sessionId, "typing", principal.id);
    return mark;
  }

  /**
   * The `session.presence` stream for one connection: join, yield the room,
   * then every change, until `signal` aborts (then leave).
   */
  async *stream(opts: {
    sessionId: string;
    connectionId: string;
    principal: Principal;
    signal: AbortSignal | undefined;
  }): AsyncGenerator<PresenceUpdate, void, unknown> {
    const { sessionId, signal } = opts;
    const queue = new BoundedQueue<PresenceUpdate>(100);
    const room = this.room(sessionId);
    // Join first (others hear it), then listen: this stream starts with the sync that includes itself.
    const key = this.join(sessionId, opts.connectionId, opts.principal);
    const listener = (update: PresenceUpdate) => queue.push(update);
    room.listeners.add(listener);
    try {
      yield this.state(sessionId, "sync", null);
      while (!signal?.aborted) {
        const next = await queue.take(signal);
        if (next.kind === "closed") return;
        yield next.kind === "overflow" ? this.state(sessionId, "sync", null) : next.value;
      }
    } finally {
      room.listeners.delete(listener);
      queue.close();
      this.leave(sessionId, key);
      this.release(sessionId, room);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const room of this.rooms.values()) {
      for (const t of room.typing.values()) clearTimeout(t.timer);
      room.unsubscribe?.();
    }
    this.rooms.clear();
  }
}
