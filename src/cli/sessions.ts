// parley sessions ls | create <title> | archive <id>
import type { Command } from "commander";
import type { RouterOutputs } from "../client";
import { positiveInt, type CliContext } from "./context";
import { formatSession } from "./output";

type Run = (action: (ctx: CliContext) => Promise<void>) => Promise<void>;

export function registerSessions(program: Command, run: Run): void {
  const sessions = program.command("sessions").description("list, create and archive sessions");

  sessions
    .command("ls")
    .description("list sessions, most recently updated first")
    .option("--search <text>", "only titles containing this text")
    .option("--archived", "include archived sessions")
    .option("--limit <n>", "at most this many", positiveInt("--limit"), 100)
    .action((opts: { search?: string; archived?: boolean; limit: number }) =>
      run(async ({ client, out }) => {
        const items: RouterOutputs["session"]["list"]["items"] = [];
        let cursor: string | null | undefined;
        do {
          const page = await client.api.session.list.query({
            search: opts.search,
            includeArchived: opts.archived ?? false,
            cursor,
            limit: Math.min(100, opts.limit - items.length),
          });
          items.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor && items.length < opts.limit);
        if (out.json) out.record(items, () => "");
        else if (items.length === 0) out.text("no sessions");
        else for (const s of items) out.text(formatSession(s));
      }),
    );

  sessions
    .command("create")
    .description("create a session; prints it (its id first)")
    .argument("<title>", "the session's title")
    .action((title: string) =>
      run(async ({ client, out }) => {
        const session = await client.api.session.create.mutate({ title });
        out.record(session, () => formatSession(session));
      }),
    );

  sessions
    .command("archive")
    .description("archive a session (it stays readable)")
    .argument("<id>", "the session id")
    .action((id: string) =>
      run(async ({ client, out }) => {
        const session = await client.api.session.update.mutate({ id, archived: true });
        out.record(session, () => formatSession(session));
      }),
    );
}
