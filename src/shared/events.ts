// The events a `session.events` subscriber receives. Every one is sent as
// tracked(String(seq), event); seq is the session's event counter.
import type { Message, Session } from "../generated/prisma/client";

export type SessionEvent =
  | { type: "message.created"; message: Message }
  | { type: "message.updated"; message: Message }
  | { type: "session.updated"; session: Session }
  /**
   * The lastEventId a client resumed with cannot belong to this session's
   * stream (not a number, or ahead of the stream: the database was reset or
   * the id came from another server). Discard local state: the whole stream
   * follows from the start. Sent with tracked id "0".
   */
  | { type: "stream.reset"; reason: string; lastEventSeq: number };

/** A persisted event and its position in the session's stream. */
export interface SessionEventEnvelope {
  seq: number;
  event: SessionEvent;
}
