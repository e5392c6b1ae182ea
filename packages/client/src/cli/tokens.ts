// parley token create | list | revoke: API tokens through the server's auth.*
// procedures (admins only). A new token is shown once.
import type { Command } from "commander";
import type { RouterOutputs } from "../index";
import { role, roles, type CliContext, type Role } from "./context";
import { CliError, ExitCode } from "./exit-codes";

type Run = (action: (ctx: CliContext) => Promise<void>) => Promise<void>;
type TokenInfo = RouterOutputs["auth"]["listTokens"][number];
const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "15m", "12h", "30d" → milliseconds. */
function parseDuration(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim());
  if (!match?.[1] || !match[2]) throw new CliError(`--expires-in must look like 90s, 15m, 12h or 30d, got "${value}"`, ExitCode.usage);
  return Number(match[1]) * (units[match[2]] ?? 0);
}

const date = (d: Date | null) => (d ? d.toISOString().slice(0, 19).replace("T", " ") : "-");

function formatToken(t: TokenInfo): string {
  const state = t.revokedAt ? "revoked" : t.expiresAt && t.expiresAt.getTime() < Date.now() ? "expired" : "active";
  return `${t.id}  ${t.name}  role=${t.principal.role}  ${state}  created ${date(t.createdAt)}  expires ${date(t.expiresAt)}  last used ${date(t.lastUsedAt)}`;
}

export function registerTokens(program: Command, run: Run): void {
  const token = program.command("token").description("create, list and revoke API tokens (admins)");

  token
    .command("create")
    .description("create a principal with an API token; the token is printed once")
    .argument("<name>", 'a name for it ("build bot")')
    .option("--role <role>", `one of ${roles.join(", ")}`, role, "agent")
    .option("--expires-in <duration>", "lifetime such as 30d or 12h (default: until revoked)")
    .action((name: string, opts: { role: Role; expiresIn?: string }) =>
      run(async ({ client, out }) => {
        const expiresInMs = opts.expiresIn ? parseDuration(opts.expiresIn) : undefined;
        const created = await client.api.auth.createToken.mutate({ name, role: opts.role, expiresInMs });
        const { principal } = created;
        out.record(
          created,
          () => `${created.token}\n(token ${created.id} for ${principal.name} (principal ${principal.id}), role ${principal.role}; shown only now)`,
        );
      }),
    );

  token
    .command("list")
    .description("list API tokens (never their secrets)")
    .option("--all", "include revoked tokens")
    .action((opts: { all?: boolean }) =>
      run(async ({ client, out }) => {
        const tokens = await client.api.auth.listTokens.query({ includeRevoked: opts.all ?? false });
        out.list(tokens, "no tokens", formatToken);
      }),
    );

  token
    .command("revoke")
    .description("revoke a token: its connections close and its streams end")
    .argument("<id>", "the token id (from token list)")
    .action((id: string) =>
      run(async ({ client, out }) => {
        const revoked = await client.api.auth.revokeToken.mutate({ id });
        out.record(revoked, () => `revoked ${formatToken(revoked)}`);
      }),
    );
}
