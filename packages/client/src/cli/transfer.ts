// parley export <sessionId> [--format json|markdown] [--out file], and
// parley import <file> [--title t]: a session as a file and back
// (src/shared/transfer.ts is the JSON format; the server checks a file
// against it, so the client carries no schema library).
import fs from "node:fs/promises";
import { TRPCClientError } from "@trpc/client";
import type { inferRouterInputs } from "@trpc/server";
import type { Command } from "commander";
import type { AppRouter } from "../server-types";
import type { CliContext } from "./context";
import { CliError, ExitCode } from "./exit-codes";

type Run = (action: (ctx: CliContext) => Promise<void>) => Promise<void>;
type Format = "json" | "markdown";
type SessionExport = inferRouterInputs<AppRouter>["session"]["import"]["data"];

function format(value: string): Format {
  if (value === "json" || value === "markdown" || value === "md") return value === "md" ? "markdown" : value;
  throw new CliError(`--format must be json or markdown (got "${value}")`, ExitCode.usage);
}

export function registerTransfer(program: Command, run: Run): void {
  program
    .command("export")
    .description("write a session (the messages you may see) as JSON, which `parley import` reads back, or as Markdown")
    .argument("<sessionId>", "the session")
    .option("--format <format>", "json or markdown", format, "json")
    .option("-o, --out <file>", "write to this file (default: stdout)")
    .action((sessionId: string, opts: { format: Format; out?: string }) =>
      run(async ({ client, out }) => {
        const file = await client.api.session.export.query({ sessionId, format: opts.format });
        if (!opts.out) return out.raw(file.text);
        await fs.writeFile(opts.out, file.text);
        out.note(`wrote ${opts.out} (${opts.format})`);
      }),
    );

  program
    .command("import")
    .description("create a new session, owned by you, from a JSON file written by `parley export`")
    .argument("<file>", "the JSON export")
    .option("--title <title>", "a title for the new session (default: the exported one)")
    .action((file: string, opts: { title?: string }) =>
      run(async ({ client, out }) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(await fs.readFile(file, "utf8"));
        } catch (error) {
          throw new CliError(`${file} is not a readable JSON file: ${error instanceof Error ? error.message : String(error)}`, ExitCode.usage);
        }
        let imported;
        try {
          // Unchecked here: session.import validates `data` and names the first field that is wrong.
          imported = await client.api.session.import.mutate({ data: parsed as SessionExport, title: opts.title });
        } catch (error) {
          const issue = error instanceof TRPCClientError ? (error as TRPCClientError<AppRouter>).data?.zodIssues?.find((i) => i.path[0] === "data") : undefined;
          if (issue) throw new CliError(`${file} is not a Parley export: ${issue.path.slice(1).join(".") || "(root)"}: ${issue.message}`, ExitCode.usage);
          throw error;
        }
        out.record(imported, () => `${imported.sessionId}  ${imported.title}  (${imported.messageCount} messages imported)`);
      }),
    );
}
