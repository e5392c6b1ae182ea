// The server listens before Next.js is ready (Next needs the port it got):
// a page request in that window waits for Next instead of getting a 404,
// while /api/health, API calls and WebSocket subscriptions are already served
// (startServer does not wait for Next: a restart is back for API clients as
// soon as the database and the bus are).
import { describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import type { NextApp } from "../src/server/app";
import { startServerAt, testDatabase, waitFor } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("start-up order", () => {
  it("holds a page request that arrives while Next is preparing and lets Next answer it once ready", async () => {
    const db = await testDatabase();
    let early: { status: number; body: string } | "pending" = "pending";
    let healthWhilePreparing = 0;
    // Prepared at once (WEB_PREPARE_DELAY_MS=0), as before any page request.
    const server = await startServerAt(0, db.url, { WEB_PREPARE_DELAY_MS: "0" }, {
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
      await server.webReady;
      expect(healthWhilePreparing).toBe(200);
      await expect.poll(() => early).toEqual({ status: 200, body: "<html>page from next</html>" });
      const later = await fetch(`${server.url}/sessions`);
      expect(await later.text()).toBe("<html>page from next</html>");
    } finally {
      await server.close();
      await db.remove();
    }
  });

  it("serves API calls and WebSocket subscriptions without preparing Next (a page request starts it), and while it prepares", async () => {
    const db = await testDatabase();
    let prepared: (app: NextApp) => void = () => undefined;
    let preparing = 0;
    const createNext = () => {
      preparing++;
      return new Promise<NextApp>((resolve) => (prepared = resolve));
    };
    const server = await startServerAt(0, db.url, { WEB_PREPARE_DELAY_MS: "600000" }, { createNext });
    const client = createParleyClient({ url: server.url });
    try {
      // API calls and WebSocket streams do not start Next (its prepare would hold up a reconnect burst).
      const session = await client.api.session.create.mutate({ title: "before the web app" });
      const events = collectSessionEvents(client, session.id);
      await client.api.message.post.mutate({ sessionId: session.id, content: "over the WebSocket" });
      await waitFor(() => events.events.length === 1, "a live event over the WebSocket");
      expect(preparing).toBe(0);
      // A page request starts it, and waits for it.
      let page: string | null = null;
      void fetch(`${server.url}/sessions`).then(async (r) => (page = await r.text()));
      await waitFor(() => preparing === 1, "the page request starting Next");
      // Next is still preparing (nothing resolved it): the API answers all the same.
      await client.api.message.post.mutate({ sessionId: session.id, content: "while Next prepares" });
      await waitFor(() => events.events.length === 2, "a live event while Next prepares");
      expect(page).toBeNull();

      prepared({
        handle: (_req, res) => {
          res.writeHead(200, { "content-type": "text/html" });
          res.end("<html>now</html>");
          return Promise.resolve();
        },
        ownsUpgrades: false,
        close: () => Promise.resolve(),
      });
      await server.webReady;
      await expect.poll(() => page).toBe("<html>now</html>");
    } finally {
      await client.close();
      await server.close();
      await db.remove();
    }
  });
});
