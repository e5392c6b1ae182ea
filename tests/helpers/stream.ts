// Collecting a `session.events` subscription the way an app would.
import type { SessionEvent } from "../../src/shared/events";
import type { ParleyClient } from "@parley/client";

export interface Collected {
  ids: string[];
  events: SessionEvent[];
  errors: unknown[];
  /** Seqs of messages seen in message.created events, in arrival order. */
  messageSeqs: () => number[];
  unsubscribe: () => void;
}

export function collectSessionEvents(client: ParleyClient, sessionId: string, lastEventId?: string): Collected {
  const ids: string[] = [];
  const events: SessionEvent[] = [];
  const errors: unknown[] = [];
  const subscription = client.api.session.events.subscribe(
    { sessionId, lastEventId },
    {
      onData: ({ id, data }) => {
        ids.push(id);
        events.push(data);
      },
      onError: (error) => errors.push(error),
    },
  );
  return {
    ids,
    events,
    errors,
    messageSeqs: () => events.flatMap((e) => (e.type === "message.created" ? [e.message.seq] : [])),
    unsubscribe: () => subscription.unsubscribe(),
  };
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Post "message <n>" for n = from..to into `sessionId`, one after another (`fields`: e.g. the author). */
export async function postNumbered(client: ParleyClient, sessionId: string, from: number, to: number, fields: { author?: string } = {}): Promise<void> {
  for (const n of range(from, to)) await client.api.message.post.mutate({ sessionId, content: `message ${n}`, ...fields });
}
