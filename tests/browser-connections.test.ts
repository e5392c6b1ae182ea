// The Connections page as an admin's view of rooms, in two browser contexts:
// the operator's page and a person's tab in a session. The room shows its
// subscribed connection and who is present; the row shows the browser; the
// filter narrows; disconnecting shows in the live log and the tab comes back;
// and a typed event published from the page reaches a subscriber (a refused
// one names its field).
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { AgentEventEnvelope } from "../src/shared/agent-events";
import { artifactsDir, browserSuite } from "./helpers/browser";

const suite = browserSuite({});
const poll = { timeout: 20_000, interval: 100 };

describe("the Connections page", () => {
  it("shows rooms, details and a live log; filters; disconnects; publishes a typed event", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "Ops room" });
    const operator = await suite.chromium.browser.newContext({ colorScheme: "dark", viewport: { width: 1280, height: 1000 } });
    const person = await suite.chromium.browser.newContext({ colorScheme: "dark" });
    try {
      const admin = await operator.newPage();
      await admin.goto(`${suite.server.url}/connections`);
      await expect.poll(() => admin.getByTestId("connection-row").count(), poll).toBeGreaterThan(0);

      const tab = await person.newPage();
      await tab.goto(`${suite.server.url}/s/${session.id}`);
      await expect.poll(() => tab.getByTestId("live-state").textContent(), poll).toBe("live");
      const room = admin.locator(`[data-testid="room"][data-session-id="${session.id}"]`);
      await expect.poll(() => room.getByTestId("room-figures").textContent(), poll).toBe("1 connection subscribed · 1 present");
      await expect.poll(() => admin.getByTestId("connection-log").locator('[data-kind="connected"]').count(), poll).toBeGreaterThan(0);

      // The filter: the session's title leaves only the person's connection, with its browser named.
      await admin.getByLabel("Filter connections").fill("ops room");
      await expect.poll(() => admin.getByTestId("connection-row").count(), poll).toBe(1);
      expect(await admin.getByTestId("connection-row").getByTestId("connection-agent").textContent()).toMatch(/Chrome/);
      const connectionId = (await admin.getByTestId("connection-row").getAttribute("data-connection-id")) ?? "";

      // The typed event form: refused with the field named, then published and received.
      const received: AgentEventEnvelope[] = [];
      const sub = suite.api.api.events.subscribe.subscribe({ types: ["system.alert"], replay: 0 }, { onData: ({ data }) => received.push(data) });
      await admin.getByLabel("Event type").fill("system.alert");
      await admin.getByLabel("Event data (JSON)").fill('{ "level": "warning" }');
      await admin.getByRole("button", { name: "Publish" }).click();
      await expect.poll(() => admin.getByTestId("publish-result").textContent(), poll).toMatch(/data\.message.*system\.alert/);
      await admin.getByLabel("Event data (JSON)").fill('{ "message": "Deploy in 5 minutes", "level": "warning" }');
      await admin.getByLabel("Event session").selectOption(session.id);
      await admin.getByRole("button", { name: "Publish" }).click();
      await expect.poll(() => admin.getByTestId("publish-result").textContent(), poll).toMatch(/^published system\.alert/);
      await expect.poll(() => received.length, poll).toBe(1);
      expect(received[0]).toMatchObject({ type: "system.alert", sessionId: session.id, data: { message: "Deploy in 5 minutes" } });
      sub.unsubscribe();
      await admin.screenshot({ path: path.join(artifactsDir, "connections.png"), fullPage: true });

      // Disconnect: the log shows it leave and come back (a new connection), and the tab is live again.
      await admin.getByRole("button", { name: `Disconnect ${connectionId}` }).click();
      await expect.poll(() => admin.getByTestId("connection-log").locator('[data-kind="disconnected"]').filter({ hasText: connectionId }).count(), poll).toBe(1);
      await expect.poll(() => admin.getByTestId("connection-row").getAttribute("data-connection-id"), poll).not.toBe(connectionId);
      await expect.poll(() => tab.getByTestId("live-state").textContent(), poll).toBe("live");
    } finally {
      await person.close();
      await operator.close();
    }
  }, 120_000);
});
