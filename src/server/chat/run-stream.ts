// `chat.run`: one run's answer as it streams, from any instance. The stream
// listens on the run's bus channel (run-store.ts), then takes the text so far
// (from the run itself when it executes here; otherwise it asks the executing
// instance, which publishes it on the channel), then follows the channel's
// text to `done`. A run that has finished is read from the database.
//
// Tracked ids are text offsets: a delta's id is the offset right after its
// text, `done`'s the final length; a reader resuming with one gets the text
// after it. A delta never leaves a gap and never repeats text: text past a
// gap waits for a snapshot (asked for again if none came within
// SNAPSHOT_RETRY_MS), and `done` carries the whole answer.
import { tracked, TRPCError, type TrackedEnvelope } from "@trpc/server";
import type { Message } from "../../generated/prisma/client";
import type { ChatRunEvent } from "../../shared/chat";
import type { Bus } from "../bus/bus";
import { BoundedQueue } from "../services/bounded-queue";
import { chatControlChannel, chatRunChannel, type RunChannelMessage, type RunStore } from "./run-store";

/** How long a reader waits for a snapshot it asked for before asking again. */
const SNAPSHOT_RETRY_MS = 2_000;

type Tracked = TrackedEnvelope<ChatRunEvent>;

/** `signal`, also aborted after `ms`. */
function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** A slow reader gets one larger text instead of many queued ones. */
function mergeTexts(last: RunChannelMessage, next: RunChannelMessage): RunChannelMessage | null {
  if (last.type !== "text" || next.type !== "text" || last.offset + last.text.length !== next.offset) return null;
  return { type: "text", offset: last.offset, text: last.text + next.text };
}

export class RunStreams {
  constructor(
    private readonly deps: {
      bus: Bus;
      runs: RunStore;
      /** A shared bus (REDIS_URL): a run may execute on another instance, which answers snapshot requests. */
      shared: boolean;
      /** SUBSCRIBER_QUEUE_LIMIT. */
      queueLimit: number;
    },
  ) {}

  /** The run's text after `lastEventId` (a text offset), then live text, then `done` with the final message. */
  async *follow(runId: string, lastEventId: string | null | undefined, signal: AbortSignal | undefined): AsyncGenerator<Tracked, void, unknown> {
    const { bus, runs, shared, queueLimit } = this.deps;
    const reader = new RunReader(runId, lastEventId && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : 0);
    const queue = new BoundedQueue<RunChannelMessage>(queueLimit, mergeTexts);
    const unsubscribe = bus.subscribe(chatRunChannel(runId), (message) => queue.push(message), { onResync: () => queue.invalidate() });
    /** When this reader last asked the executing instance for the text so far; 0: never. */
    let askedAt = 0;
    const ask = () => {
      askedAt = Date.now();
      bus.publish(chatControlChannel, { type: "snapshot", runId });
    };
    try {
      // From here on, whatever the run publishes reaches the queue.
      await bus.ready();
      // Executing here: its text is at hand. Otherwise the database says whether it still runs (a run
      // leaves this instance's runs only after its final answer is committed).
      const local = runs.get(runId);
      const stored = local ? null : await runs.findMessage(runId);
      if (!local && !stored) throw new TRPCError({ code: "NOT_FOUND", message: `run ${runId} does not exist` });
      reader.messageId = local?.messageId ?? stored?.id ?? "";
      // Finished, or streaming with no instance that could be running it: the database has the answer.
      if (stored && (stored.status !== "streaming" || !shared)) {
        yield* reader.finish(stored);
        return;
      }
      /** Waiting for the text so far from the executing instance. */
      let awaiting = !local;
      if (local) yield* reader.start(local.text);
      else ask();
      while (!signal?.aborted) {
        const next = await queue.take(awaiting ? withTimeout(signal, SNAPSHOT_RETRY_MS) : signal);
        if (next.kind === "closed") {
          if (signal?.aborted || !awaiting) return;
          // No answer in time: the run ended meanwhile (its `done` lost), or the request was; look, and ask again.
          const now = await runs.findMessage(runId);
          if (now && now.status !== "streaming") {
            yield* reader.finish(now);
            return;
          }
          ask();
          continue;
        }
        if (next.kind === "overflow") {
          // Something was dropped (a long queue, or the bus lost messages): take the text anew.
          const running = runs.get(runId);
          if (running) yield* reader.text(0, running.text);
          else {
            awaiting = true;
            ask();
          }
          continue;
        }
        const item = next.value;
        if (item.type === "done") {
          if (item.message) yield* reader.finish(item.message);
          return;
        }
        if (item.offset > reader.covered) {
          // Text past a gap: take the text so far from the run here, or wait for the snapshot asked for (and ask again in time).
          const running = runs.get(runId);
          if (running) yield* reader.text(0, running.text);
          else {
            awaiting = true;
            if (Date.now() - askedAt > SNAPSHOT_RETRY_MS) ask();
          }
          continue;
        }
        awaiting = false;
        yield* reader.text(item.offset, item.text);
      }
    } finally {
      unsubscribe();
      queue.close();
    }
  }
}

/** One reader's position in a run's text. */
class RunReader {
  messageId = "";
  private first = true;

  constructor(
    private readonly runId: string,
    /** The text length the reader holds. */
    public covered: number,
  ) {}

  /** The text so far, first: a cursor ahead of it cannot be ours, so everything is sent (offset 0 tells the client to reset). */
  *start(text: string): Generator<Tracked> {
    if (this.covered > text.length) this.covered = 0;
    this.first = false;
    yield* this.text(0, text);
  }

  /** `text` at `offset`: what lies past what the reader holds, if it continues it. */
  *text(offset: number, text: string): Generator<Tracked> {
    if (this.first && offset === 0 && this.covered > text.length) this.covered = 0;
    this.first = false;
    const end = offset + text.length;
    if (end <= this.covered || offset > this.covered) return;
    const rest = text.slice(this.covered - offset);
    yield tracked(String(end), { type: "delta", runId: this.runId, messageId: this.messageId, offset: this.covered, text: rest });
    this.covered = end;
  }

  /** The final answer: the text the reader lacks, then `done`. */
  *finish(message: Message): Generator<Tracked> {
    const text = message.content;
    if (this.covered > text.length) this.covered = 0;
    yield* this.text(0, text);
    yield tracked(String(text.length), { type: "done", runId: this.runId, message });
  }
}
