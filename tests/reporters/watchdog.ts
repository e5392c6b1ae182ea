// A reporter that turns a hung test run into a short one that says why.
// Per-test and hook timeouts run inside the worker; they cannot fire when a
// worker's event loop is blocked, and nothing bounds the time between the
// last file's end and the run's end. CI then sits silent until its own
// limit (it did once: 90 min, no summary). This watchdog, in the main
// process, names a file that runs longer than PARLEY_TEST_FILE_LIMIT_MS
// (default 15 min) and ends the run with an error, and ends a run whose
// files have all reported but which has not finished 60 s later, with the
// outcome the files reported.
import type { Reporter, TestModule, TestSpecification } from "vitest/node";

const fileLimitMs = Number(process.env.PARLEY_TEST_FILE_LIMIT_MS ?? 15 * 60_000);
const tailLimitMs = 60_000;

export default class Watchdog implements Reporter {
  private readonly running = new Map<string, number>();
  private expected = 0;
  private ended = 0;
  private failed = false;
  private lastEndAt = 0;
  private timer: NodeJS.Timeout | undefined;

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.expected = specifications.length;
    this.timer = setInterval(() => this.check(), 10_000);
    this.timer.unref(); // never what keeps a finished run alive
  }

  onTestModuleStart(module: TestModule): void {
    this.running.set(module.moduleId, Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    this.running.delete(module.moduleId);
    this.ended++;
    this.lastEndAt = Date.now();
    if (!module.ok()) this.failed = true;
  }

  onTestRunEnd(_modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    if (this.timer) clearInterval(this.timer);
    if (unhandledErrors.length > 0) this.failed = true;
    // After the summary only closing remains; bound it too.
    const failed = this.failed;
    setTimeout(() => this.stop(`the run ended ${tailLimitMs / 1000} s ago but vitest has not exited`, failed ? 1 : 0), tailLimitMs).unref();
  }

  private check(): void {
    const now = Date.now();
    for (const [file, startedAt] of this.running) {
      if (now - startedAt > fileLimitMs) {
        this.stop(`${file} has run for ${Math.round((now - startedAt) / 1000)} s (PARLEY_TEST_FILE_LIMIT_MS=${fileLimitMs}); it hangs`, 1);
        return;
      }
    }
    if (this.expected > 0 && this.ended >= this.expected && this.running.size === 0 && now - this.lastEndAt > tailLimitMs) {
      this.stop(`all ${this.expected} test files reported ${Math.round((now - this.lastEndAt) / 1000)} s ago but the run has not ended`, this.failed ? 1 : 0);
    }
  }

  private stop(why: string, code: number): void {
    const still = [...this.running.keys()];
    process.stderr.write(
      `\n[watchdog] ${why}.${still.length > 0 ? ` Still running: ${still.join(", ")}.` : ""} ` +
        `Files reported: ${this.ended}/${this.expected}, ${this.failed ? "some failed" : "all passed"}; exiting with ${code}.\n`,
    );
    process.exit(code);
  }
}
