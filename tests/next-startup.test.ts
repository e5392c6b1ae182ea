// The server listens before Next.js is ready (Next needs the port it got):
// a page request in that window waits for Next instead of getting a 404,
// while /api/health already answers.
import { describe, expect, it } from "vitest";
import type { NextApp } from "../src/server/app";
import { startServerAt, testDatabase } from "./helpers/server";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("start-up order", () => {
  it("holds a page request that arrives while Next is preparing and lets Next answer it once ready", async () => {
    const db = await testDatabase();
    let early: { status: number; body: string } | "pending" = "pending";
    let healthWhilePreparing = 0;
    const server = await startServerAt(0, db.url, {}, {
      async createNext({ port }) {
        const base = `http://127.0.0.1:${port}`;
        const page = fetch(`${base}/sessions`).then(async (r) => ({ status: r.status, body: await r.text() }));
        page.then((answer) => (early = answer)).catch(() => undefined);
        healthWhilePreparing = (await fetch(`${base}/api/health`)).status;
        // Preparing takes a while; the page request is in by now (without the hold it would already be answered).
        await Promise.race([page, sleep(300)]);
        const app: NextApp = {
          handle: (_req, res) => {
            res.writeHead(200, { "content-type": "text/html" });
            res.end("<html>page from next</html>");
            return Promise.resolve();
          },
          ownsUpgrades: false,
          close: () => Promise.resolve(),
        };
        return app;
      },
    });
    try {
      expect(healthWhilePreparing).toBe(200);
      await expect.poll(() => early).toEqual({ status: 200, body: "<html>page from next</html>" });
      const later = await fetch(`${server.url}/sessions`);
      expect(await later.text()).toBe("<html>page from next</html>");
    } finally {
      await server.close();
      await db.remove();
    }
  });
});
