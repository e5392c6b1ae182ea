// The version reported by /api/health, read from package.json at start.
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

const packageJson = z.object({ version: z.string() });

export const PARLEY_VERSION: string = packageJson.parse(
  JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "..", "package.json"), "utf8")),
).version;
