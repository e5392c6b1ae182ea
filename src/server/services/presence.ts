// Presence and typing per session. A connection is present in a session for
// as long as its `session.presence` subscription runs: it joins when the
// subscription starts and leaves when it ends, which includes the socket
// closing without a goodbye (tRPC aborts the subscription when keep-alive
// terminates a socket that stopped answering pings). Typing marks expire
// after PRESENCE_TYPING_TTL_MS without a refresh.
//
// State lives in this process (one instance); every update carries the whole
// room, so a subscriber never has to reconcile deltas.
import type { Principal } from "../context";
import { channel, type Bus, type Channel } from "../bus/bus";
import { BoundedQueue } from "./bounded-queue";

export interface PresenceMember {
  connectionId: string;
  principalId: string;
  name: string;
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
}

const presenceChannel = (sessionId: string): Channel<PresenceUpdate> => channel<PresenceUpdate>(`presence:${sessionId}`);

export class PresenceTracker {
  private readonly rooms = new Map<string, Room>();
  private nextStream = 0;

  constructor(
    private readonly bus: Bus,
    private readonly typingTtlMs: number,
  ) {}

  /** Members present across all sessions (a connection in two sessions counts twice). */
  memberCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.members.size;
    return n;
  }

  private room(sessionId: string): Room {
    let room = this.rooms.get(sessionId);
    if (!room) {
      room = { members: new Map(), typing: new Map() };
      this.rooms.set(sessionId, room);
    }
    return room;
  }

  private state(sessionId: string, kind: PresenceUpdate["kind"], principalId: string | null): PresenceUpdate {
    const room = this.rooms.get(sessionId);
    return {
      kind,
      sessionId,
      principalId,
      members: room ? [...room.members.values()] : [],
      typing: room ? [...room.typing.values()].map((t) => t.mark) : [],
    };
  }

  private publish(sessionId: string, kind: PresenceUpdate["kind"], principalId: string | null): void {
    this.bus.publish(presenceChannel(sessionId), this.state(sessionId, kind, principalId));
  }

  private join(sessionId: string, connectionId: string, principal: Principal): number {
    const key = ++this.nextStream;
    this.room(sessionId).members.set(key, {
      connectionId,
      principalId: principal.id,
      name: principal.name,
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
    if (room.members.size === 0 && room.typing.size === 0) this.rooms.delete(sessionId);
  }

  /** Mark `principal` as typing in the session for typingTtlMs (refreshes), or clear the mark. */
  setTyping(sessionId: string, principal: Principal, typing: boolean): TypingMark | null {
    const room = this.room(sessionId);
    const previous = room.typing.get(principal.id);
    if (previous) clearTimeout(previous.timer);
    if (!typing) {
      room.typing.delete(principal.id);
      if (previous) this.publish(sessionId, "typing", principal.id);
      if (room.members.size === 0 && room.typing.size === 0) this.rooms.delete(sessionId);
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
    const key = this.join(sessionId, opts.connectionId, opts.principal);
    const queue = new BoundedQueue<PresenceUpdate>(100);
    const unsubscribe = this.bus.subscribe(presenceChannel(sessionId), (update) => queue.push(update));
    try {
      yield this.state(sessionId, "sync", null);
      while (!signal?.aborted) {
        const next = await queue.take(signal);
        if (next.kind === "closed") return;
        yield next.kind === "overflow" ? this.state(sessionId, "sync", null) : next.value;
      }
    } finally {
      unsubscribe();
      queue.close();
      this.leave(sessionId, key);
    }
  }

  close(): void {
    for (const room of this.rooms.values()) for (const t of room.typing.values()) clearTimeout(t.timer);
    this.rooms.clear();
  }
}
