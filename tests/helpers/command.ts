// A command run to its end, for tests that drive npm, tsc or a built binary:
// its exit code and output, never a throw (a failing command is what they assert on).
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const npm = process.platform === "win32" ? "npm.cmd" : "npm";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `command` in `cwd` with the test's environment plus `env`; killed after `timeoutMs` (default 5 minutes), so a test never hangs on it. */
export async function sh(command: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 300_000): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

export interface BoundedResult extends CommandResult {
  /** True when the command outlived `timeoutMs` and its whole process group was killed. */
  timedOut: boolean;
}

/**
 * Run `command` without blocking this process's event loop (a test that
 * hosts a server must keep answering it), in a process group of its own so
 * that on timeout everything it started (servers, browsers) is killed with
 * it: a grandchild holding the output pipe open cannot make the test wait.
 */
export function runBounded(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<BoundedResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    let settled = false;
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(); // whatever it left behind in its group
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), timedOut });
    };
    // "exit", not "close": a leftover grandchild may hold the pipes open.
    child.on("exit", (code) => setTimeout(() => finish(code), 50));
    child.on("error", (error) => {
      err.push(Buffer.from(String(error)));
      finish(1);
    });
  });
}
