// Everything `npm start` needs before the server runs, idempotent and fast
// when there is nothing to do:
//   1. the Prisma client is generated (postinstall does it; this repairs a skipped install),
//   2. the SQLite directory exists and committed migrations are applied (`migrate deploy`),
//   3. with --build, the Next.js app is built unless a build of the current sources exists
//      (--force rebuilds). A failed build exits non-zero: never start on a broken .next.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseConfig, sqlitePath } from "../src/server/env";

const root = path.resolve(import.meta.dirname, "..");
const args = new Set(process.argv.slice(2));
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

function run(label: string, command: string, commandArgs: string[], env: NodeJS.ProcessEnv = process.env) {
  const started = Date.now();
  const result = spawnSync(command, commandArgs, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? "");
    console.error(`\n✗ ${label} failed (exit ${result.status ?? result.signal}). Nothing was started.`);
    process.exit(1);
  }
  console.log(`✓ ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** A digest of everything a Next build depends on. */
function sourceDigest(): string {
  const hash = createHash("sha256");
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "generated") walk(full);
      } else files.push(full);
    }
  };
  walk(path.join(root, "src"));
  for (const file of ["next.config.mjs", "package-lock.json", "tsconfig.json", "postcss.config.mjs"]) {
    if (fs.existsSync(path.join(root, file))) files.push(path.join(root, file));
  }
  for (const file of files.sort()) {
    hash.update(path.relative(root, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest("hex");
}

const config = parseConfig(process.env);

if (!fs.existsSync(path.join(root, "src", "generated", "prisma", "client.ts"))) {
  run("Prisma client generated", bin("prisma"), ["generate"]);
}

fs.mkdirSync(path.dirname(path.resolve(root, sqlitePath(config.DATABASE_URL))), { recursive: true });
run(`database ready at ${config.DATABASE_URL}`, bin("prisma"), ["migrate", "deploy"], {
  ...process.env,
  DATABASE_URL: config.DATABASE_URL,
});

if (args.has("--build")) {
  const stamp = path.join(root, ".next", "parley-build.sha256");
  const digest = sourceDigest();
  const current =
    fs.existsSync(path.join(root, ".next", "BUILD_ID")) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === digest;
  if (current && !args.has("--force")) {
    console.log("✓ web build is current");
  } else {
    console.log("… building the web app (next build)");
    run("web app built", bin("next"), ["build"], { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" });
    fs.writeFileSync(stamp, digest);
  }
}
