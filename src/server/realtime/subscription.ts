// One subscriber's position in a session stream, as a pure state machine: it
// is told what arrived (a live event, a back-filled one, a chat delta) and
// answers what to do with it. No I/O, no timers: session-stream.ts does what
// it decides, and tests/subscription.test.ts checks it on its own.
//
// The rules:
// - Cursor: the last persisted seq sent (or skipped past). A persisted event
//   at or below it is a duplicate; the next seq is sent; anything further
//   means events were missed: catch up from the log after the cursor.
// - Visibility: an event about a message the subscriber may not see is sent
//   as `stream.hidden` at its seq, so ids stay consecutive and a jump always
//   means a lost frame.
// - Chat text (never persisted): per running answer, how much text the
//   subscriber holds. A delta that continues it exactly is sent as published;
//   one that overlaps is trimmed; one past it needs a snapshot. Text of an
//   answer the subscriber may not see, or of a finished one, is dropped.
// - Chat events are tracked with the cursor (the last persisted id), so a
//   resume re-reads persisted events and gets a snapshot.
import type { Visibility } from "../../generated/prisma/client";
import { runIdOf } from "../../shared/chat";
import type { ChatStreamEvent, SessionEvent } from "../../shared/events";
import { visibilities } from "../../shared/schemas";

/** Whether a subscriber may see a message (auth/policy.ts canSeeMessage). */
export type MessageFilter = (message: { visibility: Visibility; authorId: string | null }) => boolean;

/** No filter: one shared function rather than one per subscriber. */
export const SEE_EVERYTHING: MessageFilter = () => true;

/**
 * What the rules read of a persisted event: fields JSON keeps as they are (no
 * dates), so they can be read from a stored encoding without decoding it.
 * Every SessionEvent is one.
 */
export interface EventFacts {
  type: string;
  message?: { id: string; visibility: Visibility; authorId: string | null; status: string; metadata: unknown };
}

/** A running answer as the chat runs know it (see ActiveRunSource). */
export interface ActiveRunSnapshot {
  runId: string;
  messageId: string;
  /** The seq of the answer's `message.created`. */
  createdEventSeq: number;
  /** The text so far. */
  text: string;
  /** The answer's audience (inherited from its question). */
  visibility: Visibility;
  authorId: string | null;
}

/** Where a session stream reads running answers from (the chat runs of this instance). */
export interface ActiveRunSource {
  activeRuns(sessionId: string): ActiveRunSnapshot[];
}

type ChatDelta = Extract<ChatStreamEvent, { type: "chat.delta" }>;
type ChatSnapshot = Extract<ChatStreamEvent, { type: "chat.snapshot" }>;

/** What to do with a persisted event: send it, send `stream.hidden` at its seq, skip it (a duplicate), or catch up from the log first. */
export type PersistedDecision = "send" | "hide" | "skip" | "catch-up";
/** What to do with a chat delta: send it as published, send `trimmed` instead, skip it, or send a snapshot of its run. */
export type DeltaDecision = "send" | "send-trimmed" | "skip" | "snapshot";

/** Finished runs a subscriber remembers (to ignore their late deltas). */
const FINISHED_RUNS_REMEMBERED = 256;

/** What a subscriber gets in place of an event it may not see. */
export const HIDDEN: SessionEvent = { type: "stream.hidden" };

/** A resume id: a non-negative integer, or null when it cannot be one. */
function parseEventId(id: string): number | null {
  if (!/^\d{1,15}$/.test(id)) return null;
  return Number(id);
}

export class SessionSubscription {
  /** The last persisted event sent (or skipped past). */
  private cursor = 0;
  /** `String(cursor)`: the id chat events are tracked with (made once per move, not per delta). */
  cursorId = "0";
  /** The trimmed delta of the last "send-trimmed" decision. */
  trimmed: ChatDelta | null = null;
  /** Streaming answers whose message.created this subscriber has read, and whether it may see them. */
  private streamingAudience: Map<string, boolean> | null = null;
  /** How much of each running answer's text this subscriber holds. */
  private covered: Map<string, number> | null = null;
  /** Runs that finished (to ignore their late deltas); at most FINISHED_RUNS_REMEMBERED. */
  private finishedRuns: Set<string> | null = null;

  constructor(
    private readonly canSee: MessageFilter,
    /** The running answers (snapshots, and the audience of a run this subscriber has not read the start of). */
    private readonly runs: ActiveRunSource,
    private readonly sessionId: string,
  ) {}

  get position(): number {
    return this.cursor;
  }

  /**
   * Where to start, given the client's `lastEventId` and the session's last
   * seq: after the id when it can belong to this stream; otherwise from the
   * start, with the `stream.reset` to send first (tracked "0").
   */
  start(lastEventId: string | null | undefined, lastEventSeq: number): Extract<SessionEvent, { type: "stream.reset" }> | null {
    if (lastEventId == null) return null;
    const parsed = parseEventId(lastEventId);
    if (parsed !== null && parsed <= lastEventSeq) {
      this.moveTo(parsed);
      return null;
    }
    const reason =
      parsed === null
        ? `lastEventId "${lastEventId}" is not an event id of this stream`
        : `lastEventId ${parsed} is ahead of this session's stream (last event ${lastEventSeq}); the database may have been reset`;
    return { type: "stream.reset", reason, lastEventSeq };
  }

  /** A live persisted event. On "send" and "hide" the cursor has moved to it. */
  persisted(seq: number, facts: EventFacts, seqId?: string): PersistedDecision {
    if (seq <= this.cursor) return "skip";
    if (seq > this.cursor + 1) return "catch-up";
    return this.advance(seq, facts, seqId) ? "send" : "hide";
  }

  /** A persisted event read from the log after the cursor: the cursor moves to it; whether it is shown (else hidden). */
  backfilled(seq: number, facts: EventFacts): boolean {
    return this.advance(seq, facts);
  }

  /** A live chat event (only deltas carry text). On "send" and "send-trimmed" the subscriber's coverage has grown. */
  chat(event: ChatStreamEvent): DeltaDecision {
    if (event.type !== "chat.delta") return "skip";
    if (this.finished(event.runId) || !this.runVisible(event.runId, event.messageId)) return "skip";
    const have = this.covered?.get(event.runId) ?? 0;
    const end = event.offset + event.text.length;
    if (end <= have) return "skip";
    if (event.offset > have) return "snapshot";
    (this.covered ??= new Map()).set(event.runId, end);
    if (event.offset === have) return "send";
    this.trimmed = { ...event, offset: have, text: event.text.slice(have - event.offset) };
    return "send-trimmed";
  }

  /**
   * The snapshots to send now (of one run, or of all): every running answer
   * whose `message.created` this subscriber has read and may see. Coverage
   * becomes each snapshot's text.
   */
  snapshots(onlyRunId?: string): ChatSnapshot[] {
    const out: ChatSnapshot[] = [];
    for (const run of this.runs.activeRuns(this.sessionId)) {
      if (onlyRunId !== undefined && run.runId !== onlyRunId) continue;
      // Not read yet: its message.created and every delta are still to come.
      if (run.createdEventSeq > this.cursor || this.finished(run.runId)) continue;
      if (!this.canSee(run)) continue;
      (this.covered ??= new Map()).set(run.runId, run.text.length);
      out.push({ type: "chat.snapshot", runId: run.runId, messageId: run.messageId, offset: 0, text: run.text });
    }
    return out;
  }

  /** `seqId`: `String(seq)` when the caller has it (one string for every subscriber of a delivery). */
  private moveTo(seq: number, seqId = String(seq)): void {
    this.cursor = seq;
    this.cursorId = seqId;
  }

  /** Move the cursor to a persisted event; whether the subscriber may see it. */
  private advance(seq: number, facts: EventFacts, seqId?: string): boolean {
    this.moveTo(seq, seqId);
    const message = facts.message;
    if ((facts.type !== "message.created" && facts.type !== "message.updated" && facts.type !== "message.deleted") || !message) return true;
    if (facts.type === "message.updated" && message.status !== "streaming") this.runFinished(message);
    const visible = this.canSee(message);
    if (message.status === "streaming") (this.streamingAudience ??= new Map()).set(message.id, visible);
    else this.streamingAudience?.delete(message.id);
    return visible;
  }

  private runFinished(message: { metadata: unknown }): void {
    const runId = runIdOf(message);
    if (!runId) return;
    this.covered?.delete(runId);
    const finishedRuns = (this.finishedRuns ??= new Set());
    finishedRuns.add(runId);
    if (finishedRuns.size > FINISHED_RUNS_REMEMBERED) {
      const oldest = finishedRuns.values().next().value;
      if (oldest !== undefined) finishedRuns.delete(oldest);
    }
  }

  private finished(runId: string): boolean {
    return this.finishedRuns?.has(runId) ?? false;
  }

  /** A running answer's audience; unknown (not read here, not running here) counts as not visible. */
  private runVisible(runId: string, messageId: string): boolean {
    if (this.canSee === SEE_EVERYTHING) return true;
    const known = this.streamingAudience?.get(messageId);
    if (known !== undefined) return known;
    const run = this.runs.activeRuns(this.sessionId).find((r) => r.runId === runId);
    return run !== undefined && this.canSee(run);
  }
}

/** A stored event's facts, read from its stored JSON when it has their shape; null otherwise (decode the event instead). */
export function factsOf(json: unknown): EventFacts | null {
  if (typeof json !== "object" || json === null || !("type" in json) || typeof json.type !== "string") return null;
  if (!("message" in json)) return { type: json.type };
  const m = json.message;
  if (typeof m !== "object" || m === null) return null;
  if (!("id" in m) || !("visibility" in m) || !("authorId" in m) || !("status" in m) || !("metadata" in m)) return null;
  const { id, visibility, authorId, status, metadata } = m;
  if (typeof id !== "string" || !isVisibility(visibility) || typeof status !== "string") return null;
  if (authorId !== null && typeof authorId !== "string") return null;
  return { type: json.type, message: { id, visibility, authorId, status, metadata } };
}

const VISIBILITIES: readonly string[] = visibilities;

function isVisibility(value: unknown): value is Visibility {
  return typeof value === "string" && VISIBILITIES.includes(value);
}
