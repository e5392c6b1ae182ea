// Bad input gets a typed error naming the problem, never a crash: zod
// validation, unknown ids, size limits, oversized and malformed WS frames.
import { TRPCClientError } from "@trpc/client";
import type { AppRouter } from "../src/server/routers/_app";
import type { HealthReport } from "../src/server/services/health";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ MESSAGE_MAX_BYTES: "1024", WS_MAX_PAYLOAD_BYTES: "65536" });
});
afterAll(async () => {
  await t.close();
});

async function rejection(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as TRPCClientError<AppRouter>;
    throw error;
  }
  throw new Error("expected the call to fail");
}

async function expectHealthy() {
  const response = await fetch(`${t.url}/api/health`);
  expect(response.status).toBe(200);
}

describe("bad input", () => {
  it("answers BAD_REQUEST naming each invalid field", async () => {
    const c = t.client();
    const cases: [() => Promise<unknown>, string[]][] = [
      // @ts-expect-error content must be a string
      [() => c.api.message.post.mutate({ sessionId: "x", content: 5 }), ["content"]],
      [() => c.api.message.post.mutate({ sessionId: "", content: "hi" }), ["sessionId"]],
      [() => c.api.session.create.mutate({ title: "   " }), ["title"]],
      [() => c.api.session.create.mutate({ title: "x".repeat(201) }), ["title"]],
      [() => c.api.message.list.query({ sessionId: "s", afterSeq: 1, beforeSeq: 5 }), ["beforeSeq"]],
      [() => c.api.message.list.query({ sessionId: "s", limit: 100_000 }), ["limit"]],
      // @ts-expect-error role must be one of the roles
      [() => c.api.message.post.mutate({ sessionId: "s", content: "x", role: "god" }), ["role"]],
      [() => c.api.session.create.mutate({ title: "meta", metadata: { big: "x".repeat(20_000) } }), ["metadata"]],
    ];
    for (const [call, fields] of cases) {
      const error = await rejection(call());
      expect(error.data?.code).toBe("BAD_REQUEST");
      for (const field of fields) expect(error.message).toContain(field);
    }
  });

  it("answers NOT_FOUND for unknown ids", async () => {
    const c = t.client();
    for (const call of [
      () => c.api.session.get.query({ id: "missing" }),
      () => c.api.session.update.mutate({ id: "missing", title: "x" }),
      () => c.api.message.post.mutate({ sessionId: "missing", content: "x" }),
      () => c.api.message.list.query({ sessionId: "missing" }),
    ]) {
      const error = await rejection(call());
      expect(error.data?.code).toBe("NOT_FOUND");
      expect(error.message).toContain("missing");
    }
  });

  it("refuses content over MESSAGE_MAX_BYTES with PAYLOAD_TOO_LARGE naming the limit", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "limits" });
    const error = await rejection(c.api.message.post.mutate({ sessionId: session.id, content: "é".repeat(600) }));
    expect(error.data?.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.message).toContain("1024 bytes");
    expect(error.message).toContain("MESSAGE_MAX_BYTES");
    // Exactly at the limit is fine.
    const ok = await c.api.message.post.mutate({ sessionId: session.id, content: "a".repeat(1024) });
    expect(ok.seq).toBe(1);
  });

  it("closes only the connection that sends a frame over WS_MAX_PAYLOAD_BYTES; other clients keep streaming", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "frames" });
    const bystander = collectSessionEvents(t.client(), session.id);
    await waitFor(() => t.server.deps.runtime.connectionCount() === 1, "bystander connected");

    const raw = new WebSocket(`${t.url.replace("http", "ws")}/api/trpc-ws`);
    await new Promise((resolve) => raw.once("open", resolve));
    const closed = new Promise<number>((resolve) => raw.once("close", (code) => resolve(code)));
    raw.send("x".repeat(70_000));
    expect(await closed).toBe(1009);

    await c.api.message.post.mutate({ sessionId: session.id, content: "still here" });
    await waitFor(() => bystander.events.length === 1, "bystander delivery");
    expect(bystander.errors).toEqual([]);
    await expectHealthy();
  });

  it("answers a frame that is not JSON (or not a tRPC message) with an error, and stays up", async () => {
    const raw = new WebSocket(`${t.url.replace("http", "ws")}/api/trpc-ws`);
    await new Promise((resolve) => raw.once("open", resolve));
    const replies: string[] = [];
    raw.on("message", (data: Buffer) => replies.push(data.toString()));
    for (const frame of ["not json{", "[]", '{"id":1,"method":"nope"}', '{"__proto__":{"polluted":true}}', "null"]) {
      raw.send(frame);
    }
    await waitFor(() => replies.length >= 1 || raw.readyState !== WebSocket.OPEN, "a reply or a clean close");
    for (const reply of replies) expect(reply).toMatch(/error/i);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    raw.close();
    await expectHealthy();
    // A well-formed client still works after all that.
    const session = await t.client().api.session.create.mutate({ title: "after garbage" });
    expect(session.title).toBe("after garbage");
  });
});

describe("GET /api/health", () => {
  it("reports status, version, uptime, db, bus and connections", async () => {
    const response = await fetch(`${t.url}/api/health`);
    expect(response.headers.get("content-type")).toContain("application/json");
    const body = (await response.json()) as HealthReport;
    expect(body).toMatchObject({ status: "ok", db: "up", bus: { kind: "memory", status: "up" } });
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof body.uptimeS).toBe("number");
    expect(typeof body.connections).toBe("number");
    const viaTrpc = await t.client().api.system.health.query();
    expect(viaTrpc.status).toBe("ok");
    const ping = await t.client().api.system.ping.mutate();
    expect(ping.serverTime).toBeInstanceOf(Date);
  });
});
