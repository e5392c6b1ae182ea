// The live commands: parley tail <session>, parley events, parley metrics.
// Each checks the server over HTTP first (so an unreachable server or a bad
// token is an immediate, clear exit), then follows its stream over the
// WebSocket, which reconnects and resumes by itself until Ctrl-C.
import type { Command } from "commander";
import { isPermanentFailure } from "../errors";
import { resumableSubscription } from "../resumable";
import type { AgentEventEnvelope, MetricsWindow } from "../index";
import { defaultRetryDelayMs } from "../index";
import { positiveInt, type CliContext } from "./context";
import { CliError, ExitCode } from "./exit-codes";
import { formatAgentEvent, formatMetrics, formatSessionEvent } from "./output";

type Run = (action: (ctx: CliContext) => Promise<void>) => Promise<void>;

/** Tell people on stderr when the connection drops and comes back (not with --json). */
function reportConnection({ client, out }: CliContext): () => void {
  let lost = false;
  let refusedWith: string | null = null;
  return client.connectionState.subscribe((s) => {
    if (out.json) return;
    if (s.state === "reconnecting") {
      if (!lost) out.note(`connection lost (${s.error ?? "closed"}); reconnecting...`);
      lost = true;
    } else if (s.state === "refused") {
      // Once per kind of refusal, not once per attempt.
      if (refusedWith !== s.code) out.note(s.message);
      refusedWith = s.code;
      lost = true;
    } else if (s.state === "open" && lost) {
      lost = false;
      refusedWith = null;
      out.note("reconnected; resuming");
    }
  });
}

export function registerStreams(program: Command, run: Run): void {
  program
    .command("tail")
    .description("follow a session's events live (history first); resumes after disconnects; Ctrl-C to stop")
    .argument("<session>", "the session id")
    .option("--from <id>", 'start after this event id ("end": only new events)')
    .action((sessionId: string, opts: { from?: string }) =>
      run(async (ctx) => {
        const { client, out, interrupt } = ctx;
        await client.api.session.get.query({ id: sessionId }); // NOT_FOUND / UNAUTHORIZED / unreachable, now
        const stopReporting = reportConnection(ctx);
        try {
          for await (const { id, event } of client.tail(sessionId, { from: opts.from, signal: interrupt })) {
            if (out.json) out.record({ id, event }, () => "");
            else {
              const line = formatSessionEvent(event);
              if (line) out.text(line);
            }
          }
        } finally {
          stopReporting();
        }
      }),
    );

  program
    .command("events")
    .description("follow typed agent events (the last --replay first); Ctrl-C to stop")
    .option("--type <pattern...>", "event types or families: llm.*, agent.progress, custom.game.*, *")
    .option("--session <id>", "only events of this session")
    .option("--replay <n>", "matching events to show from before now", positiveInt("--replay"), 20)
    .option("--from <id>", "every matching event after this event id (instead of --replay)")
    .action((opts: { type?: string[]; session?: string; replay: number; from?: string }) =>
      run(async (ctx) => {
        const { client, out, interrupt } = ctx;
        await client.api.auth.me.query(); // reachability and the token, before the stream
        let cursor = opts.from;
        let lastId = cursor && /^\d+$/.test(cursor) ? Number(cursor) : 0;
        const stopReporting = reportConnection(ctx);
        try {
          const events = resumableSubscription<AgentEventEnvelope>({
            signal: interrupt,
            retryDelayMs: defaultRetryDelayMs,
            isPermanent: isPermanentFailure,
            open: (sink) =>
              client.api.events.subscribe.subscribe(
                { types: opts.type, sessionId: opts.session, replay: opts.replay, lastEventId: cursor },
                {
                  onData: ({ id, data }) => {
                    if (Number(id) <= lastId) return; // already shown before a resubscribe
                    lastId = Number(id);
                    cursor = id;
                    sink.push(data);
                  },
                  onError: (error) => sink.error(error),
                  onComplete: () => sink.complete(),
                },
              ),
          });
          for await (const event of events) out.record(event, () => formatAgentEvent(event));
        } finally {
          stopReporting();
        }
      }),
    );

  program
    .command("metrics")
    .description("a live view of the server's key figures (metrics.live); Ctrl-C to stop")
    .option("--resolution <ms>", "window size: 1000, 5000, 10000 or 60000", "1000")
    .option("--once", "print the latest figures once and exit")
    .action((opts: { resolution: string; once?: boolean }) =>
      run(async (ctx) => {
        const { client, out, interrupt } = ctx;
        const resolutionMs = Number(opts.resolution);
        if (resolutionMs !== 1000 && resolutionMs !== 5000 && resolutionMs !== 10000 && resolutionMs !== 60000) {
          throw new CliError(`--resolution must be 1000, 5000, 10000 or 60000, got "${opts.resolution}"`, ExitCode.usage);
        }
        await client.api.metrics.snapshot.query(); // reachability and the token, before the stream
        const redraw = !out.json && process.stdout.isTTY;
        // Start near now: the history replay is for charts, not for this view.
        let cursor = String(Date.now() - 2 * resolutionMs);
        const stopReporting = reportConnection(ctx);
        try {
          const windows = resumableSubscription<MetricsWindow>({
            signal: interrupt,
            retryDelayMs: defaultRetryDelayMs,
            isPermanent: isPermanentFailure,
            open: (sink) =>
              client.api.metrics.live.subscribe(
                { resolutionMs, lastEventId: cursor },
                {
                  onData: ({ id, data }) => {
                    cursor = id;
                    sink.push(data);
                  },
                  onError: (error) => sink.error(error),
                  onComplete: () => sink.complete(),
                },
              ),
          });
          for await (const window of windows) {
            if (out.json) out.record(window, () => "");
            else {
              if (redraw) out.raw("\x1b[2J\x1b[H");
              for (const line of formatMetrics(window)) out.text(line);
              if (!redraw) out.text("");
            }
            if (opts.once) return;
          }
        } finally {
          stopReporting();
        }
      }),
    );
}
