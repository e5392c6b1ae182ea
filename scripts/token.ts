// `npm run token -- <command>`: manage API tokens from the shell, on the
// database DATABASE_URL names, with the server's own token code.
//
//   create --name bot --role agent [--expires-in 30d] a new principal and its token (printed once; --expires is an alias)
//   list [--all]                                     tokens (never secrets); --all includes revoked ones
//   revoke <id>                                      a running server ends its streams within a second
//   signin [--name admin]                            a fresh one-time sign-in link for an admin
//   user --name alice [--role member]                a person for the web UI, and their one-time sign-in link
//                                                    (a name that exists: that person again, with a new link)
import type { Role } from "../src/server/auth/principal";
import { roles } from "../src/shared/schemas";
import { signInUrl } from "../src/server/auth";
import { signInBase } from "../src/server/auth/sign-in-base";
import { createPrincipalWithToken, listTokens, revokeToken, signInTokenFor } from "../src/server/auth/tokens";
import { openStorage } from "../src/server/db";
import { parseConfig } from "../src/server/env";

const USAGE = `usage: npm run token -- create --name <name> --role <${roles.join("|")}> [--expires-in <n>(s|m|h|d)]
       npm run token -- list [--all]
       npm run token -- revoke <token id>
       npm run token -- signin [--name <admin name>]
       npm run token -- user --name <name> [--role <viewer|member|admin>]`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** "30d", "12h", "15m", "45s" → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (!match) fail(`--expires-in "${text}" is not a duration like 30d, 12h, 15m or 45s`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

function printSignIn(name: string, token: string) {
  const base = signInBase(config);
  console.log(`one-time sign-in link for "${name}" (valid ${Math.round(config.AUTH_SIGNIN_TTL_MS / 60_000)} min):\n\n  ${signInUrl(base.url, token)}\n`);
  if (base.source === "configuration") {
    console.log(`No running Parley server was found on this database, so the link assumes ${base.url} (HOST and PORT here). If the server runs elsewhere, set PUBLIC_URL (or PORT) for this command.`);
  }
}

const [command, ...args] = process.argv.slice(2);
const config = parseConfig(process.env);
const storage = await openStorage(config.DATABASE_URL);
const db = storage.db;
try {
  switch (command) {
    case "create": {
      const name = option(args, "name")?.trim();
      const role = option(args, "role");
      if (!name) fail("--name is required");
      if (!role || !(roles as readonly string[]).includes(role)) fail(`--role must be one of ${roles.join(", ")}`);
      // --expires-in as in `parley token create`; --expires is the older spelling.
      const expires = option(args, "expires-in") ?? option(args, "expires");
      const expiresAt = expires ? new Date(Date.now() + parseDuration(expires)) : null;
      const { token, info } = await createPrincipalWithToken(db, { name, role: role as Role, expiresAt });
      console.log(`created token ${info.id} for ${info.principal.kind} "${name}" (role ${role}, principal ${info.principalId})`);
      console.log(`expires: ${expiresAt ? expiresAt.toISOString() : "never (until revoked)"}`);
      console.log(`\n  ${token}\n\nThis is the only time the token is shown: store it now. Send it as "Authorization: Bearer <token>" or createParleyClient({ token }).`);
      break;
    }
    case "list": {
      const tokens = await listTokens(db, { includeRevoked: args.includes("--all") });
      if (tokens.length === 0) console.log("no tokens");
      for (const t of tokens) {
        const state = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : t.expiresAt && t.expiresAt < new Date() ? "expired" : "active";
        console.log(
          [t.id, t.principal.role.padEnd(6), JSON.stringify(t.name), state, `expires ${t.expiresAt?.toISOString() ?? "never"}`, `last used ${t.lastUsedAt?.toISOString() ?? "never"}`].join("  "),
        );
      }
      break;
    }
    case "revoke": {
      const id = args[0];
      if (!id) fail("revoke needs a token id (npm run token -- list)");
      const info = await revokeToken(db, id);
      if (!info) fail(`no token ${id}`);
      console.log(`revoked ${info.id} ("${info.name}"); a running server ends its connections within AUTH_REVOCATION_POLL_MS`);
      break;
    }
    case "signin": {
      const name = option(args, "name");
      const admin = await db.principal.findFirst({ where: { role: "admin", disabledAt: null, ...(name ? { name } : {}) }, orderBy: { createdAt: "asc" } });
      if (!admin) fail(name ? `no admin named "${name}"` : "no admin yet: start the server once (it creates one)");
      printSignIn(admin.name, await signInTokenFor(db, admin.id, config.AUTH_SIGNIN_TTL_MS));
      break;
    }
    case "user": {
      // A person for the web UI: a user principal signs in with a one-time link (a cookie follows), no API token.
      const name = option(args, "name");
      if (!name) fail("user needs --name");
      const role = option(args, "role") ?? "member";
      if (!["viewer", "member", "admin"].includes(role)) fail("--role for a person must be viewer, member or admin");
      // One principal per name: a name that exists is that person again (a new link), never a second "alice".
      const existing = await db.principal.findMany({ where: { name }, orderBy: { createdAt: "asc" } });
      const person = existing.find((p) => p.kind === "user" || p.kind === "admin");
      const other = existing[0];
      if (!person && other) fail(`"${name}" is already the name of a principal of kind ${other.kind} (${other.id}): pick another name for the person`);
      if (person) {
        if (person.disabledAt) fail(`"${name}" exists (principal ${person.id}) but is disabled: nothing was created`);
        const asked = option(args, "role");
        if (asked && asked !== person.role) fail(`"${name}" exists with role ${person.role} (principal ${person.id}); nothing was changed. Leave out --role for a new sign-in link`);
        console.log(`"${name}" exists (${person.kind}, role ${person.role}, principal ${person.id}): no new principal; here is a new sign-in link for them`);
        printSignIn(name, await signInTokenFor(db, person.id, config.AUTH_SIGNIN_TTL_MS));
        break;
      }
      const user = await db.principal.create({ data: { name, kind: role === "admin" ? "admin" : "user", role: role as Role } });
      console.log(`created ${user.kind} "${name}" (role ${role}, principal ${user.id}); add them to sessions with session.addMember`);
      printSignIn(name, await signInTokenFor(db, user.id, config.AUTH_SIGNIN_TTL_MS));
      break;
    }
    default:
      fail(command ? `unknown command "${command}"` : "a command is required");
  }
} finally {
  await storage.close();
}
