// parley sessions ls | create <title> | archive <id> | members <id> |
// add-member <id> <principal> | remove-member <id> <principal>
import type { Command } from "commander";
import type { ParleyClient, RouterOutputs } from "../index";
import { positiveInt, role, roles, type CliContext, type Role } from "./context";
import { CliError, ExitCode } from "./exit-codes";
import { formatSession } from "./output";

type Run = (action: (ctx: CliContext) => Promise<void>) => Promise<void>;

/** A principal as a member command names it; `name` when the CLI could look it up. */
interface PrincipalRef {
  id: string;
  name?: string;
}

/**
 * The principal `ref` names: its id, or, for admins (who may list tokens), the
 * id of one of its API tokens (`token list`) or its name (`token create <name>`).
 * Anything else is passed on as an id, and the server says whether it exists.
 */
async function resolvePrincipal(client: ParleyClient, ref: string): Promise<PrincipalRef> {
  const me = await client.api.auth.me.query();
  if (me.role !== "admin") return { id: ref };
  const tokens = await client.api.auth.listTokens.query({ includeRevoked: false });
  const byId = tokens.find((t) => t.principal.id === ref || t.id === ref);
  if (byId) return byId.principal;
  const named = [...new Map(tokens.filter((t) => t.principal.name === ref).map((t) => [t.principal.id, t.principal])).values()];
  if (named.length > 1) {
    throw new CliError(`"${ref}" names ${named.length} principals (${named.map((p) => p.id).join(", ")}); pass one of these ids`, ExitCode.usage);
  }
  return named[0] ?? { id: ref };
}

const who = (p: PrincipalRef) => (p.name ? `${p.name} (${p.id})` : p.id);

export function registerSessions(program: Command, run: Run): void {
  const sessions = program.command("sessions").description("list, create and archive sessions; manage their members");

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
        out.list(items, "no sessions", formatSession);
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

  sessions
    .command("members")
    .description("list a session's members (besides its owner)")
    .argument("<id>", "the session id")
    .action((id: string) =>
      run(async ({ client, out }) => {
        const members = await client.api.session.members.query({ sessionId: id });
        out.list(members, "no members", (m) => `${m.principalId}  ${m.principal.name}  ${m.principal.kind}  role=${m.role}`);
      }),
    );

  sessions
    .command("add-member")
    .description("let a principal (an agent, an app, a person) read and write a session, or change its role there (owner or admin)")
    .argument("<id>", "the session id")
    .argument("<principal>", "a principal id; admins may also give a token's name or id (token list)")
    .option("--role <role>", `its role in the session: ${roles.join(", ")} (viewer only reads)`, role, "member")
    .action((sessionId: string, ref: string, opts: { role: Role }) =>
      run(async ({ client, out }) => {
        const principal = await resolvePrincipal(client, ref);
        const member = await client.api.session.addMember.mutate({ sessionId, principalId: principal.id, role: opts.role });
        out.record(member, () => `${who(principal)} is a member of ${sessionId} with role ${member.role}`);
      }),
    );

  sessions
    .command("remove-member")
    .description("remove a principal from a session; its live streams of it end (owner or admin)")
    .argument("<id>", "the session id")
    .argument("<principal>", "a principal id; admins may also give a token's name or id (token list)")
    .action((sessionId: string, ref: string) =>
      run(async ({ client, out }) => {
        const principal = await resolvePrincipal(client, ref);
        const removed = await client.api.session.removeMember.mutate({ sessionId, principalId: principal.id });
        out.record(removed, () => `${who(principal)} is no longer a member of ${sessionId}`);
      }),
    );
}
