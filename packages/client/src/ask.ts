// ask(): one question to an agent, its answer as it streams. chat.send starts
// a server-owned run; chat.run follows it (resuming from the text offset it
// holds if the subscription ends early). Aborting the signal stops the run
// with chat.stop: the partial answer is kept with status "stopped".
import type { TRPCClient } from "@trpc/client";
import type { AppRouter } from "./server-types";
import type { RouterInputs, RouterOutputs } from "./types";
import { isPermanentFailure } from "./errors";
import { resumableSubscription } from "./resumable";

type ChatSendInput = RouterInputs["chat"]["send"];
type ChatSendOutput = RouterOutputs["chat"]["send"];
type ChatMessage = RouterOutputs["chat"]["stop"];

export interface AskOptions extends Omit<ChatSendInput, "sessionId" | "content"> {
  /** Stops the run (chat.stop); the iterator then yields `done` with the stopped message and ends. */
  signal?: AbortSignal;
  /** Called once the run has started, with the question and the run's ids. */
  onStarted?: (started: ChatSendOutput) => void;
}

export type AskItem =
  /** `text` continues the answer at `offset` (the length of the text before it). */
  | { type: "delta"; text: string; offset: number; runId: string; messageId: string }
  /** The persisted answer: status `complete`, `stopped` or `error`, with run metadata. */
  | { type: "done"; message: ChatMessage };

export async function* askSession(
  api: TRPCClient<AppRouter>,
  sessionId: string,
  prompt: string,
  options: AskOptions & { lifetime: AbortSignal; retryDelayMs: (attempt: number) => number },
): AsyncGenerator<AskItem, void, undefined> {
  const { signal: userSignal, onStarted, lifetime, retryDelayMs, ...sendOptions } = options;
  if (userSignal?.aborted) return;
  // No signal on the send itself: once the run exists we need its id to stop it.
  const started = await api.chat.send.mutate({ ...sendOptions, sessionId, content: prompt });
  onStarted?.(started);
  yield* followRun(api, started.runId, { signal: userSignal, lifetime, retryDelayMs });
}

/**
 * Follow one run (chat.run) from the start: its deltas, then `done`. Aborting
 * `signal` stops the run (chat.stop) and yields `done` with the stopped message.
 */
export async function* followRun(
  api: TRPCClient<AppRouter>,
  runId: string,
  options: { signal?: AbortSignal; lifetime: AbortSignal; retryDelayMs: (attempt: number) => number },
): AsyncGenerator<AskItem, void, undefined> {
  const { signal: userSignal, lifetime, retryDelayMs } = options;

  let received = 0; // text length yielded so far: the resume cursor
  let done: ChatMessage | null = null;
  const stopped = new AbortController();
  const onAbort = () => stopped.abort();
  userSignal?.addEventListener("abort", onAbort, { once: true });
  if (userSignal?.aborted) stopped.abort();
  try {
    const stream = resumableSubscription<AskItem>({
      signal: AbortSignal.any([stopped.signal, lifetime]),
      retryDelayMs,
      isPermanent: isPermanentFailure,
      open: (sink) =>
        api.chat.run.subscribe(
          { runId, lastEventId: received > 0 ? String(received) : undefined },
          {
            onData: ({ data }) => {
              if (data.type === "done") {
                // Deltas lost on the way at the very end (a dropped frame, then the run ended): the
                // persisted answer holds them, so the deltas still add up to it.
                const { content } = data.message;
                if (content.length > received) {
                  sink.push({ type: "delta", text: content.slice(received), offset: received, runId, messageId: data.message.id });
                  received = content.length;
                }
                sink.push({ type: "done", message: data.message });
                sink.finish();
                return;
              }
              // Keep only text past what we hold (a resumed stream may repeat some).
              const end = data.offset + data.text.length;
              if (end <= received) return;
              if (data.offset > received) {
                // Text is missing before this delta (a lost frame): resume from what we hold.
                sink.complete();
                return;
              }
              const text = data.offset < received ? data.text.slice(received - data.offset) : data.text;
              sink.push({ type: "delta", text, offset: received, runId, messageId: data.messageId });
              received = end;
            },
            onError: (error) => sink.error(error),
            onComplete: () => sink.complete(),
          },
        ),
    });
    for await (const item of stream) {
      if (item.type === "done") done = item.message;
      yield item;
      if (done) return;
    }
    if (stopped.signal.aborted && !lifetime.aborted) {
      // The caller gave up: stop the run; its partial text is kept as "stopped".
      const message = await api.chat.stop.mutate({ runId });
      yield { type: "done", message };
    }
  } finally {
    userSignal?.removeEventListener("abort", onAbort);
  }
}
