// What every command gets: a connected client built from --url/--token (or
// PARLEY_URL/PARLEY_TOKEN), the output mode, and a signal that aborts on Ctrl-C.
import { createParleyClient, type ParleyClient, type RouterInputs } from "../index";
import { ExitCode, CliError } from "./exit-codes";
import { createOutput, type Output } from "./output";

export const DEFAULT_URL = "http://127.0.0.1:3000";

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export interface CliContext {
  url: string;
  client: ParleyClient;
  out: Output;
  /** Aborted by the first Ctrl-C; commands stop what they do and return. */
  interrupt: AbortSignal;
}

export function createContext(options: GlobalOptions, interrupt: AbortSignal): CliContext {
  const url = options.url ?? process.env.PARLEY_URL ?? DEFAULT_URL;
  if (!/^https?:\/\/[^/]+/.test(url)) {
    throw new CliError(`PARLEY_URL/--url must be an http(s) URL like ${DEFAULT_URL}, got "${url}"`, ExitCode.usage);
  }
  const token = options.token ?? (process.env.PARLEY_TOKEN || undefined);
  return { url, client: createParleyClient({ url, token, name: "parley-cli" }), out: createOutput(options.json ?? false), interrupt };
}

/** Parse a positive integer option, or fail with exit code 2 naming it. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new CliError(`${name} must be a positive integer, got "${value}"`, ExitCode.usage);
    return n;
  };
}

/** A principal's role, globally (token create) or in one session (sessions add-member). */
export type Role = RouterInputs["auth"]["createToken"]["role"];
export const roles = ["viewer", "member", "agent", "admin"] as const satisfies readonly Role[];
// The list names every role the server accepts (a compile error otherwise): the CLI checks --role before it calls.
const rolesListed: [Exclude<Role, (typeof roles)[number]>] extends [never] ? true : never = true;
void rolesListed;

/** Parse a --role option, or fail with exit code 2 listing the roles. */
export function role(value: string): Role {
  const found = roles.find((r) => r === value);
  if (!found) throw new CliError(`--role must be one of ${roles.join(", ")}, got "${value}"`, ExitCode.usage);
  return found;
}
