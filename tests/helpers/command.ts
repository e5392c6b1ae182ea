// A command run to its end, for tests that drive npm, tsc or a built binary:
// its exit code and output, never a throw (a failing command is what they assert on).
import { execFile } from "node:child_process";
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
