// parley send <session> <text> and parley ask <session> <prompt>.
import type { Command } from "commander";
import type { CliContext } from "./context";
import { ExitCode } from "./exit-codes";
import { formatMessage } from "./output";

type Run = (action: (ctx: CliContext) => Promise<number | void>) => Promise<void>;

export function registerChat(program: Command, run: Run): void {
  program
    .command("send")
    .description("post a message to a session; prints it with its seq")
    .argument("<session>", "the session id")
    .argument("<text>", "the message")
    .option("--author <label>", "a label shown beside your name (the name itself is your token's principal's)")
    .action((sessionId: string, text: string, opts: { author?: string }) =>
      run(async ({ client, out }) => {
        const message = await client.api.message.post.mutate({ sessionId, content: text, author: opts.author });
        out.record(message, () => formatMessage(message));
      }),
    );

  program
    .command("ask")
    .description("ask the session's agent; streams the answer. Ctrl-C stops the run (exit 130)")
    .argument("<session>", "the session id")
    .argument("<prompt>", "the question")
    .option("--agent <id>", "the agent to ask (default: the session's default agent)")
    .option("--author <label>", "a label shown beside your name on the question")
    .action((sessionId: string, prompt: string, opts: { agent?: string; author?: string }) =>
      run(async ({ client, out, interrupt }) => {
        let answered = false;
        for await (const item of client.ask(sessionId, prompt, { agentId: opts.agent, author: opts.author, signal: interrupt })) {
          if (out.json) {
            out.record(item, () => "");
          } else if (item.type === "delta") {
            out.raw(item.text);
            answered = true;
          } else {
            const m = item.message;
            // The streamed text is the answer; if nothing streamed (a finished run), print it now.
            if (!answered) out.raw(m.content);
            out.raw("\n");
            if (m.status !== "complete") out.note(`[answer ${m.status}]${errorOf(m.metadata) ? ` ${errorOf(m.metadata)}` : ""}`);
          }
        }
        if (interrupt.aborted) return ExitCode.interrupted;
      }),
    );
}

function errorOf(metadata: unknown): string | null {
  if (metadata !== null && typeof metadata === "object" && "error" in metadata && typeof metadata.error === "string") return metadata.error;
  return null;
}
