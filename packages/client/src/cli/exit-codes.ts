// The CLI's exit codes, one per thing a script would do differently, and the
// error type commands throw to choose one. Documented in README ("SDK and CLI").
import { describeFailure } from "../errors";

export const ExitCode = {
  ok: 0,
  /** Anything else: a server error, a refused call that is not below. */
  failure: 1,
  /** Bad usage: unknown command or option, missing argument, input the server refused (BAD_REQUEST). */
  usage: 2,
  /** The server could not be reached at PARLEY_URL. */
  unreachable: 3,
  /** No token, or a bad, expired or revoked one (UNAUTHORIZED), or not allowed (FORBIDDEN). */
  auth: 4,
  /** The session, token or run does not exist. */
  notFound: 5,
  /** Interrupted with Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure with its exit code and a message for a person. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** Turn whatever a command threw into a message and an exit code. */
export function toCliError(error: unknown, url: string): CliError {
  if (error instanceof CliError) return error;
  const failure = describeFailure(error);
  switch (failure.kind) {
    case "unreachable":
      return new CliError(`cannot reach the Parley server at ${url} (${failure.message}); is it running? Set PARLEY_URL or --url.`, ExitCode.unreachable);
    case "unauthorized":
      return new CliError(`${failure.message}\nSet PARLEY_TOKEN (or --token) to a valid API token ("parley token create" as an admin).`, ExitCode.auth);
    case "forbidden":
      return new CliError(`not allowed: ${failure.message}`, ExitCode.auth);
    case "not_found":
      return new CliError(`not found: ${failure.message}`, ExitCode.notFound);
    case "bad_input":
      return new CliError(failure.message, ExitCode.usage);
    default:
      return new CliError(failure.code ? `${failure.code}: ${failure.message}` : failure.message, ExitCode.failure);
  }
}
