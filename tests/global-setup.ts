// Runs once per `npm test`: applies the committed migrations to a template
// SQLite file with the real `prisma migrate deploy`; each test server copies it.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { ensureWebBuild } from "../scripts/web-build";

declare module "vitest" {
  export interface ProvidedContext {
    templateDb: string;
  }
}

export default function setup(project: TestProject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-template-"));
  const file = path.join(dir, "template.db");
  const root = path.resolve(import.meta.dirname, "..");
  const result = spawnSync(path.join(root, "node_modules", ".bin", "prisma"), ["migrate", "deploy"], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: `file:${file}` },
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`prisma migrate deploy failed:\n${result.stdout}\n${result.stderr}`);
  project.provide("templateDb", file);
  // The browser and process tests run the production server: build the web
  // app once here (skipped when a build of the current sources exists).
  ensureWebBuild();
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
