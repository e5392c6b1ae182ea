// Authorization as a specification: a matrix generated over global role ×
// relation to the session × message visibility, checked through queries,
// mutations, a subscription's back-fill, its resume back-fill and live events;
// a fast-check property over random mixes of visibilities and readers; and a
// fuzz of every procedure with malformed inputs (no INTERNAL_SERVER_ERROR, no
// prototype pollution, the server healthy afterwards).
import { createTRPCClient, createWSClient, TRPCClientError, wsLink } from "@trpc/client";
import fc from "fast-check";
import superjson from "superjson";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role, Visibility } from "../src/generated/prisma/client";
import type { AppRouter } from "../src/server/routers/_app";
import { appRouter } from "../src/server/routers/_app";
import { postMessage } from "../src/server/services/messages";
import type { SessionEvent } from "../src/shared/events";
import { makePrincipal, type TestPrincipal } from "./helpers/auth";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

type Relation = "owner" | "member:viewer" | "member:member" | "member:agent" | "outsider";
const roles: Role[] = ["viewer", "member", "agent", "admin"];
const relations: Relation[] = ["owner", "member:viewer", "member:member", "member:agent", "outsider"];
const visibilities: Visibility[] = ["public", "private", "agent_only"];

/** The rules, restated independently of src/server/auth/policy.ts. */
function expected(role: Role, relation: Relation) {
  const admin = role === "admin";
  const owner = relation === "owner";
  const memberRole = relation.startsWith("member:") ? relation.slice(7) : null;
  const read = admin || owner || memberRole !== null;
  const write = admin || (role !== "viewer" && (owner || (memberRole !== null && memberRole !== "viewer")));
  const manage = admin || owner;
  const sees = (m: { visibility: Visibility; authorId: string | null }, callerId: string, ownerId: string) =>
    read &&
    (admin ||
      m.visibility === "public" ||
      (m.visibility === "private" && (m.authorId === callerId || ownerId === callerId)) ||
      (m.visibility === "agent_only" && role === "agent"));
  return { read, write, manage, sees };
}

type ClientError = TRPCClientError<AppRouter>;
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof TRPCClientError) return (error as ClientError).data?.code ?? "unknown";
    throw error;
  }
}

function wsClient(url: string, token: string) {
  const client = createWSClient({
    url: `${url.replace(/^http/, "ws")}/api/trpc-ws`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: { token },
    retryDelayMs: () => 50,
  });
  return { api: createTRPCClient<AppRouter>({ links: [wsLink({ client, transformer: superjson })] }), close: () => client.close() };
}

/** Collect a session.events subscription until a message with `sentinel` content arrives (or an error). */
async function collectUntil(t: TestServer, token: string, sessionId: string, sentinel: string, lastEventId?: string) {
  const ws = wsClient(t.url, token);
  const events: SessionEvent[] = [];
  const errors: unknown[] = [];
  const sub = ws.api.session.events.subscribe(
    { sessionId, lastEventId },
    { onData: ({ data }) => events.push(data), onError: (e) => errors.push(e) },
  );
  await waitFor(
    () => errors.length > 0 || events.some((e) => e.type === "message.created" && e.message.content === sentinel),
    `sentinel ${sentinel}`,
    15_000,
  );
  sub.unsubscribe();
  void ws.close();
  const created = events.flatMap((e) => (e.type === "message.created" ? [e.message] : []));
  return { created, errors };
}

let t: TestServer;
let owner: TestPrincipal;
beforeAll(async () => {
  t = await startTestServer({ PARLEY_AUTH: "on", RATE_LIMIT_PER_CONNECTION: "100000", RATE_LIMIT_PER_PRINCIPAL: "100000" });
  owner = await makePrincipal(t, "member", "session owner");
});
afterAll(async () => {
  await t?.close();
});

const limits = { maxContentBytes: 65_536 };
async function seed(sessionId: string, authorId: string, visibility: Visibility, content: string) {
  return postMessage(t.server.deps, limits, { sessionId, content, role: "user", author: "seed", visibility }, authorId);
}

describe("authorization matrix", () => {
  const cases = roles.flatMap((role) => relations.map((relation) => ({ role, relation })));
  const figures = { cases: 0, checks: 0 };
  afterAll(() => {
    console.log(`authorization matrix: ${figures.cases} caller cases, ${figures.checks} checks`);
  });

  it.each(cases)("$role as $relation", async ({ role, relation }) => {
    const caller = await makePrincipal(t, role, `${role} ${relation}`);
    const rules = expected(role, relation);
    const sessionOwner = relation === "owner" ? caller : owner;
    const session = await t.server.deps.db.session.create({ data: { title: `${role} ${relation}`, metadata: {}, ownerId: sessionOwner.id } });
    if (relation.startsWith("member:")) {
      await t.server.deps.db.sessionMember.create({ data: { sessionId: session.id, principalId: caller.id, role: relation.slice(7) as Role } });
    }
    const other = await makePrincipal(t, "member", "other author");
    const seeded: Awaited<ReturnType<typeof seed>>[] = [];
    for (const visibility of visibilities) {
      seeded.push(await seed(session.id, owner.id, visibility, `by owner ${visibility}`));
      seeded.push(await seed(session.id, caller.id, visibility, `by caller ${visibility}`));
      seeded.push(await seed(session.id, other.id, visibility, `by other ${visibility}`));
    }
    const visibleIds = (msgs: typeof seeded) => msgs.filter((m) => rules.sees(m, caller.id, sessionOwner.id)).map((m) => m.id).sort();
    const api = t.client({ token: caller.token }).api;
    const forbidden = "FORBIDDEN";
    const check = (actual: string, allowed: boolean) => {
      figures.checks++;
      expect(actual).toBe(allowed ? "ok" : forbidden);
    };

    // Queries.
    check(await outcome(api.session.get.query({ id: session.id })), rules.read);
    check(await outcome(api.session.members.query({ sessionId: session.id })), rules.read);
    const listed = await api.message.list.query({ sessionId: session.id }).catch(() => null);
    figures.checks++;
    if (rules.read) expect(listed?.items.map((m) => m.id).sort()).toEqual(visibleIds(seeded));
    else expect(listed).toBeNull();
    if (rules.read) {
      const got = await api.session.get.query({ id: session.id });
      figures.checks++;
      expect(got.messageCount).toBe(visibleIds(seeded).length);
    }
    const sessions = await api.session.list.query({ limit: 100 });
    figures.checks++;
    expect(sessions.items.some((s) => s.id === session.id)).toBe(rules.read);

    // Mutations.
    check(await outcome(api.message.post.mutate({ sessionId: session.id, content: "posted by caller", visibility: "private" })), rules.write);
    check(await outcome(api.session.update.mutate({ id: session.id, title: "renamed" })), rules.write);
    check(await outcome(api.events.publish.mutate({ type: "system.info", data: { message: "hi" }, sessionId: session.id })), rules.write);
    check(await outcome(api.session.addMember.mutate({ sessionId: session.id, principalId: other.id, role: "viewer" })), rules.manage);
    check(await outcome(api.system.connections.query()), role === "admin");

    // Subscriptions: back-fill, then live, then resume back-fill after the first event.
    const sentinel1 = `sentinel-1 ${role} ${relation}`;
    await seed(session.id, owner.id, "public", sentinel1);
    const all = await t.server.deps.db.message.findMany({ where: { sessionId: session.id } });
    const first = await collectUntil(t, caller.token, session.id, sentinel1);
    figures.checks++;
    if (!rules.read) {
      expect((first.errors[0] as ClientError | undefined)?.data?.code).toBe(forbidden);
      figures.cases++;
      return;
    }
    expect(first.created.map((m) => m.id).sort()).toEqual(visibleIds(all));

    // Live: subscribe, then post every visibility; the sentinel ends the collection.
    const ws = wsClient(t.url, caller.token);
    const live: SessionEvent[] = [];
    const sub = ws.api.session.events.subscribe({ sessionId: session.id, lastEventId: String((await t.server.deps.db.session.findUniqueOrThrow({ where: { id: session.id } })).lastEventSeq) }, { onData: ({ data }) => live.push(data) });
    await waitFor(() => t.server.deps.bus.listenerCount() > 1, "live subscriber");
    const fresh: Awaited<ReturnType<typeof seed>>[] = [];
    for (const visibility of visibilities) fresh.push(await seed(session.id, owner.id, visibility, `live ${visibility}`));
    const sentinel2 = `sentinel-2 ${role} ${relation}`;
    fresh.push(await seed(session.id, owner.id, "public", sentinel2));
    await waitFor(() => live.some((e) => e.type === "message.created" && e.message.content === sentinel2), "live sentinel", 15_000);
    sub.unsubscribe();
    void ws.close();
    figures.checks++;
    expect(live.flatMap((e) => (e.type === "message.created" ? [e.message.id] : [])).sort()).toEqual(visibleIds(fresh));

    // Resume back-fill from event 1: everything visible after it.
    const everything = await t.server.deps.db.message.findMany({ where: { sessionId: session.id }, orderBy: { seq: "asc" } });
    const resumed = await collectUntil(t, caller.token, session.id, sentinel2, "1");
    figures.checks++;
    expect(resumed.created.map((m) => m.id).sort()).toEqual(visibleIds(everything.filter((m) => m.seq > 1)));
    figures.cases++;
  });
});

describe("visibility property", () => {
  it("random mixes of visibilities reach exactly who may see them, through message.list and session.events", async () => {
    const cast = {
      member: await makePrincipal(t, "member", "p-member"),
      viewer: await makePrincipal(t, "viewer", "p-viewer"),
      agent: await makePrincipal(t, "agent", "p-agent"),
      admin: await makePrincipal(t, "admin", "p-admin"),
      outsider: await makePrincipal(t, "member", "p-outsider"),
    };
    const names = Object.keys(cast) as (keyof typeof cast)[];
    const writers = ["owner", "member", "agent"] as const;
    let runs = 0;
    let deliveries = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ visibility: fc.constantFrom(...visibilities), by: fc.constantFrom(...writers) }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(...names, "owner" as const),
        async (posts, readerName) => {
          runs++;
          const session = await t.server.deps.db.session.create({ data: { title: "property", metadata: {}, ownerId: owner.id } });
          for (const [name, role] of [["member", "member"], ["viewer", "viewer"], ["agent", "agent"]] as const) {
            await t.server.deps.db.sessionMember.create({ data: { sessionId: session.id, principalId: cast[name].id, role } });
          }
          const posted = [];
          for (const [i, post] of posts.entries()) {
            const author = post.by === "owner" ? owner : cast[post.by];
            const api = t.client({ token: author.token }).api;
            posted.push(await api.message.post.mutate({ sessionId: session.id, content: `m${i}`, visibility: post.visibility }));
          }
          const sentinel = `end ${runs}`;
          await seed(session.id, owner.id, "public", sentinel);
          const reader = readerName === "owner" ? owner : cast[readerName];
          const relation: Relation =
            readerName === "owner" ? "owner" : readerName === "outsider" || readerName === "admin" ? "outsider" : (`member:${readerName}` as Relation);
          const rules = expected(reader.role, relation);
          const want = posted.filter((m) => rules.sees(m, reader.id, owner.id)).map((m) => m.id).sort();
          const listed = await t.client({ token: reader.token }).api.message.list.query({ sessionId: session.id }).catch(() => null);
          const streamed = await collectUntil(t, reader.token, session.id, sentinel);
          if (!rules.read) return listed === null && streamed.errors.length === 1;
          const fromList = listed!.items.filter((m) => m.content !== sentinel).map((m) => m.id).sort();
          const fromStream = streamed.created.filter((m) => m.content !== sentinel).map((m) => m.id).sort();
          deliveries += fromStream.length + fromList.length;
          expect(fromList).toEqual(want);
          expect(fromStream).toEqual(want);
          return true;
        },
      ),
      { numRuns: 30 },
    );
    console.log(`visibility property: ${runs} runs, ${deliveries} deliveries checked, 0 failures`);
  }, 180_000);
});

describe("fuzz", () => {
  const hostile: unknown[] = [
    null,
    0,
    -1,
    1e308,
    "",
    "x".repeat(1_000_000),
    true,
    [],
    [1, "a", null],
    {},
    JSON.parse('{"__proto__": {"polluted": "yes"}}'),
    { constructor: { prototype: { polluted: "yes" } } },
    { sessionId: JSON.parse('{"__proto__": {"polluted": "yes"}}') as unknown },
  ];
  /** A request body nested `depth` levels deep, written as text (the test's own JSON.stringify would overflow). */
  const deepBody = (depth: number) => {
    const nested = `${'[{"a":'.repeat(depth)}1${"}]".repeat(depth)}`;
    return `{"json":{"sessionId":${nested},"id":${nested},"title":${nested}}}`;
  };
  const rawBodies: string[] = [deepBody(200), deepBody(20_000), "{not json", '{"json":'];

  it("every procedure answers malformed input with a client error, never INTERNAL_SERVER_ERROR", async () => {
    const admin = await makePrincipal(t, "admin", "fuzzer");
    const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string; inputs: unknown[] } }>);
    const headers = { authorization: `Bearer ${admin.token}`, "content-type": "application/json" };
    let calls = 0;
    const failures: string[] = [];
    /** Inputs from the schema's own shape with wrong-typed values (fast-check), plus the hostile list. */
    const inputsFor = (def: { inputs: unknown[] }): string[] => {
      const schema = def.inputs[0] as { shape?: Record<string, unknown> } | undefined;
      const keys = schema?.shape ? Object.keys(schema.shape) : ["id", "sessionId"];
      const generated = fc.sample(
        fc.dictionary(fc.constantFrom(...keys, "__proto__", "constructor"), fc.oneof(fc.anything(), fc.string({ maxLength: 5_000 }))),
        { numRuns: 25, seed: 42 },
      );
      return [...hostile, ...generated].map((input) => JSON.stringify({ json: input })).concat(rawBodies);
    };
    for (const [path, procedure] of procedures) {
      for (const body of inputsFor(procedure._def)) {
        calls++;
        let response: Response;
        if (procedure._def.type === "mutation") {
          response = await fetch(`${t.url}/api/trpc/${path}`, { method: "POST", headers, body });
        } else if (procedure._def.type === "query") {
          const query = body.length < 60_000 ? `?input=${encodeURIComponent(body)}` : "";
          response = await fetch(`${t.url}/api/trpc/${path}${query}`, { headers, method: query ? "GET" : "GET" });
        } else {
          const ws = wsClient(t.url, admin.token);
          const code = await new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve("ok"), 300);
            let input: unknown;
            try {
              input = (JSON.parse(body) as { json: unknown }).json;
            } catch {
              input = body;
            }
            try {
              // The typed client's proxy, walked by path (every subscription procedure, not one).
              const node = path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], ws.api) as {
                subscribe: (input: unknown, handlers: { onData: () => void; onError: (e: unknown) => void }) => { unsubscribe: () => void };
              };
              const sub = node.subscribe(input, {
                onData: () => undefined,
                onError: (e) => {
                  clearTimeout(timer);
                  resolve((e as ClientError).data?.code ?? "client");
                },
              });
              setTimeout(() => sub.unsubscribe(), 310);
            } catch {
              // superjson on the client refuses some inputs (__proto__) before sending: nothing reached the server.
              clearTimeout(timer);
              resolve("client");
            }
          });
          void ws.close();
          if (code === "INTERNAL_SERVER_ERROR") failures.push(`${path}: ${body.slice(0, 80)}`);
          continue;
        }
        const text = await response.text();
        if (response.status >= 500 || text.includes("INTERNAL_SERVER_ERROR")) failures.push(`${path} ${response.status}: ${body.slice(0, 80)} → ${text.slice(0, 200)}`);
      }
    }
    console.log(`fuzz: ${procedures.length} procedures, ${calls} calls, ${failures.length} failures`);
    expect(failures).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const health = await fetch(`${t.url}/api/health`);
    expect(health.status).toBe(200);
  }, 300_000);
});
