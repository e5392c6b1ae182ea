// The events a `session.events` subscriber receives. Every one is sent as
// tracked(String(seq), event); seq is the session's event counter.
import type { Message, Session } from "../generated/prisma/client";

export type SessionEvent =
  | { type: "message.created"; message: Message }
  /** A change of a message: a run's answer as it ends, or an edit (`metadata.edits` holds the earlier texts). */
  | { type: "message.updated"; message: Message }
  /**
   * The message was deleted. `message` is the row as it was, with its
   * `content` (and edit history) emptied: earlier events about it are emptied
   * the same way, so nothing replays what was deleted.
   */
  | { type: "message.deleted"; message: Message }
  | { type: "session.updated"; session: Session }
  /**
   * The lastEventId a client resumed with cannot belong to this session's
   * stream (not a number, or ahead of the stream: the database was reset or
   * the id came from another server). Discard local state: the whole stream
   * follows from the start. Sent with tracked id "0".
   */
  | { type: "stream.reset"; reason: string; lastEventSeq: number }
  /**
   * An event exists at this id that this subscriber may not see (a private or
   * agent-only message). Sent instead of nothing so ids stay consecutive: a
   * jump in ids then always means a lost frame, which a client repairs by
   * resuming from its last id. Ignore it otherwise. (The id itself already
   * tells that something happened; this tells nothing more.)
   */
  | { type: "stream.hidden" }
  | ChatStreamEvent;

/**
 * Chat text of a running answer. Not persisted: each is sent tracked with the
 * id of the last persisted event the subscriber has seen, so resuming never
 * skips a persisted event. `offset` is the position of `text` in the
 * message's full text. After (re)connecting, a subscriber receives one
 * `chat.snapshot` per active run (the text so far, offset 0), then deltas that
 * continue exactly where it ends: replace the message text on a snapshot,
 * append on a delta (`offset` always equals the text length you hold). The
 * run's final text and status arrive as a persisted `message.updated`.
 */
export type ChatStreamEvent =
  | { type: "chat.snapshot"; runId: string; messageId: string; offset: 0; text: string }
  | { type: "chat.delta"; runId: string; messageId: string; offset: number; text: string };

/** A persisted event and its position in the session's stream. */
export interface SessionEventEnvelope {
  seq: number;
  event: SessionEvent;
}
