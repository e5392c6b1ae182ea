// The client package's public types are a deliberate choice: the committed
// report (packages/client/client.api.md) must equal the one the current
// build gives, so a change to a procedure's input or output, or to an export,
// fails here until it is accepted with `npm run api-report` (and shows in review).
import fs from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { apiReportFile, currentApiReport } from "../scripts/api-report";

let report: string;
beforeAll(() => {
  report = currentApiReport();
}, 300_000);

describe("API report of @parley/client", () => {
  it("covers the procedures' inputs and outputs and the SDK's exports", () => {
    expect(report).toMatch(/post: TRPCMutationProcedure<\{\s*input: \{[^}]*sessionId: string;/);
    expect(report).toContain("export declare function createParleyClient(");
    expect(report).toContain("export declare function useSessionTail(");
  });

  it("equals the committed report (accept a deliberate change with `npm run api-report`)", () => {
    const committed = fs.existsSync(apiReportFile) ? fs.readFileSync(apiReportFile, "utf8") : "";
    if (committed === report) return;
    const ours = report.split("\n");
    const theirs = committed.split("\n");
    const line = ours.findIndex((l, i) => l !== theirs[i]);
    expect.fail(
      `packages/client/client.api.md differs from the build at line ${line + 1}:\n  committed: ${theirs[line] ?? "(end)"}\n  build:     ${ours[line] ?? "(end)"}\n` +
        "Review the change (removing or narrowing is a major version, see CHANGELOG.md), then run `npm run api-report` to accept it.",
    );
  });
});
