#!/usr/bin/env node
// parley: Parley from the command line, for people and scripts. Built on the
// SDK (../index.ts); reads PARLEY_URL and PARLEY_TOKEN; --json for scripts.
// Exit codes: see exit-codes.ts (0 ok, 1 failure, 2 usage, 3 unreachable,
// 4 auth, 5 not found, 130 interrupted).
import { Command, CommanderError } from "commander";
import { registerChat } from "./chat";
import { createContext, DEFAULT_URL, type CliContext, type GlobalOptions } from "./context";
import { registerMemory } from "./memory";
import { CliError, ExitCode, toCliError } from "./exit-codes";
import { registerSessions } from "./sessions";
import { registerStreams } from "./streams";
import { registerTokens } from "./tokens";
import { registerTransfer } from "./transfer";

const interrupt = new AbortController();
let exitCode: number = ExitCode.ok;

function buildProgram(): Command {
  const program = new Command("parley")
    .description("Parley from the command line: sessions, live events, chat, metrics, tokens, memory and search")
    .option("--url <url>", `server URL (env PARLEY_URL, default ${DEFAULT_URL})`)
    .option("--token <token>", "API token (env PARLEY_TOKEN)")
    .option("--json", "machine-readable output: one JSON value per line")
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 failure, 2 bad usage or input, 3 server unreachable, 4 bad or missing token / not allowed,\n5 not found, 130 interrupted (Ctrl-C).",
    )
    .exitOverride();

  /** Run one command's action with a context, turning failures into a message and an exit code. */
  const run = async (action: (ctx: CliContext) => Promise<number | void>): Promise<void> => {
    let ctx: CliContext | undefined;
    const globals = program.opts<GlobalOptions>();
    try {
      ctx = createContext(globals, interrupt.signal);
      const code = await action(ctx);
      exitCode = code ?? (interrupt.signal.aborted ? ExitCode.interrupted : ExitCode.ok);
    } catch (error) {
      const failure = toCliError(error, ctx?.url ?? globals.url ?? process.env.PARLEY_URL ?? DEFAULT_URL);
      process.stderr.write(`parley: ${failure.message}\n`);
      exitCode = failure.exitCode;
    } finally {
      await ctx?.client.close();
    }
  };

  registerSessions(program, run);
  registerStreams(program, run);
  registerChat(program, run);
  registerTokens(program, run);
  registerMemory(program, run);
  registerTransfer(program, run);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

async function main(): Promise<void> {
  // First Ctrl-C: stop what the command does (ask stops its run), then exit 130. Second: exit now.
  process.on("SIGINT", () => {
    if (interrupt.signal.aborted) process.exit(ExitCode.interrupted);
    interrupt.abort();
  });
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; everything else commander refuses (including a missing command) is bad usage.
      exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    } else if (error instanceof CliError) {
      // An option parser refused a value (before any action ran).
      process.stderr.write(`parley: ${error.message}\n`);
      exitCode = error.exitCode;
    } else {
      process.stderr.write(`parley: ${error instanceof Error ? error.message : String(error)}\n`);
      exitCode = ExitCode.failure;
    }
  }
  // Stdout may still be draining into a pipe: exit once it is flushed.
  process.stdout.write("", () => process.exit(exitCode));
}

void main();
