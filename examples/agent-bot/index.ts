// agent-bot: an agent that joins a Parley session with its token, answers the
// user messages that mention it (@<name>) through the server's chat agents,
// and reports agent.progress events while it works.
//
//   PARLEY_URL=http://127.0.0.1:3000 PARLEY_TOKEN=<agent token> \
//     npx tsx examples/agent-bot/index.ts --session <id> [--name bot] [--agent <agentId>]
import { parseArgs } from "node:util";
import { createParleyClient, describeFailure, type Message } from "@parley/client";

const { values } = parseArgs({
  options: {
    session: { type: "string" },
    name: { type: "string", default: "bot" },
    agent: { type: "string" },
  },
});
if (!values.session) {
  console.error("usage: npx tsx examples/agent-bot/index.ts --session <id> [--name bot] [--agent <agentId>]");
  process.exit(2);
}
const sessionId = values.session;
const name = values.name;
const mention = new RegExp(`(^|\\s)@${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "i");

const parley = createParleyClient({ url: process.env.PARLEY_URL ?? "http://127.0.0.1:3000", token: process.env.PARLEY_TOKEN || undefined, name });
const stop = new AbortController();
process.on("SIGINT", () => stop.abort());
process.on("SIGTERM", () => stop.abort());

/** Publish one agent.progress event for this session (failures are logged, not fatal). */
async function progress(taskId: string, step: string, percent: number, message: string): Promise<void> {
  await parley.api.events.publish
    .mutate({ type: "agent.progress", sessionId, data: { taskId, step, percent, message } })
    .catch((error: unknown) => console.error(`agent.progress not published: ${describeFailure(error).message}`));
}

/** Answer one message: a run answering it in place (chat.regenerate on the question), followed to the end. */
async function answer(question: Message): Promise<void> {
  const taskId = question.id;
  await progress(taskId, "received", 0, `answering #${question.seq} from ${question.author}`);
  // What the bot remembers of earlier questions in this session (memory.recall).
  const recalled = await parley.recall(question.content, { scope: { kind: "session", sessionId }, tag: "agent-bot", limit: 3 });
  console.log(`recalled ${recalled.items.length} memories for #${question.seq}`);
  const started = await parley.api.chat.regenerate.mutate({ messageId: question.id, agentId: values.agent });
  let chars = 0;
  let reported = 0;
  for await (const item of parley.followRun(started.runId, { signal: stop.signal })) {
    if (item.type === "delta") {
      chars += item.text.length;
      // A rough progress figure: the answer's length against a typical 400 characters, capped below 100.
      const percent = Math.min(90, Math.round((chars / 400) * 90));
      if (percent >= reported + 30) {
        reported = percent;
        await progress(taskId, "streaming", percent, `${chars} characters so far`);
      }
    } else {
      const status = item.message.status;
      await progress(taskId, status === "complete" ? "done" : status, 100, `answer #${item.message.seq} is ${status}`);
      // Remember that this was asked and answered (memory.store), for the next question.
      const memory = await parley.remember(`${question.author} asked: ${question.content.slice(0, 500)}`, {
        title: `question #${question.seq}`,
        scope: { kind: "session", sessionId },
        tags: ["agent-bot"],
      });
      console.log(`remembered ${memory.id}`);
      console.log(`answered #${question.seq} (${status}): ${item.message.content.slice(0, 80)}`);
    }
  }
}

try {
  const me = await parley.api.auth.me.query();
  const session = await parley.api.session.get.query({ id: sessionId });
  console.log(`${me.name} (${me.role}) joined "${session.title}"; answering messages that mention @${name}. Ctrl-C to leave.`);
  // Only messages posted from now on; answered one at a time (one run per session at once).
  for await (const { event } of parley.tail(sessionId, { from: "end", signal: stop.signal })) {
    if (event.type !== "message.created") continue;
    const message = event.message;
    if (message.role !== "user" || !mention.test(message.content)) continue;
    await answer(message).catch(async (error: unknown) => {
      const failure = describeFailure(error);
      console.error(`could not answer #${message.seq}: ${failure.message}`);
      await progress(message.id, "error", 100, failure.message);
    });
  }
} catch (error) {
  const failure = describeFailure(error);
  console.error(`agent-bot: ${failure.message}`);
  process.exitCode = failure.kind === "unreachable" ? 3 : failure.kind === "unauthorized" || failure.kind === "forbidden" ? 4 : failure.kind === "not_found" ? 5 : 1;
} finally {
  await parley.close();
}
