// Sharing a session (invite by name, invitation links, roles, leaving) and
// profiles (display name and avatar colour on posts and presence).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_CALL_MANY_ENV, makePrincipal, outcome, type TestPrincipal } from "./helpers/auth";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collect } from "./helpers/ws-client";

let t: TestServer;
let owner: TestPrincipal;
let bob: TestPrincipal;
beforeAll(async () => {
  t = await startTestServer(AUTH_CALL_MANY_ENV);
  owner = await makePrincipal(t, "member", "olga");
  bob = await makePrincipal(t, "member", "bob the builder");
});
afterAll(async () => {
  await t?.close();
});

describe("sharing", () => {
  it("an invitation link adds whoever opens it until it is revoked; members leave; the owner cannot", async () => {
    const o = t.client({ token: owner.token }).api;
    const b = t.client({ token: bob.token }).api;
    const session = await o.session.create.mutate({ title: "shared by link" });
    expect(await outcome(b.session.get.query({ id: session.id }))).toBe("FORBIDDEN");
    const link = await o.session.createInvite.mutate({ sessionId: session.id, role: "viewer" });
    expect(link.path).toBe(`/invite/${link.token}`);
    expect(await b.session.join.mutate({ token: link.token })).toEqual({ sessionId: session.id, title: "shared by link", role: "viewer" });
    expect((await b.session.get.query({ id: session.id })).id).toBe(session.id);
    expect(await outcome(b.message.post.mutate({ sessionId: session.id, content: "a viewer cannot write" }))).toBe("FORBIDDEN");
    // The owner raises the role; the list says who and what.
    await o.session.addMember.mutate({ sessionId: session.id, principalId: bob.id, role: "member" });
    expect((await o.session.members.query({ sessionId: session.id })).map((m) => [m.principal.name, m.role])).toEqual([["bob the builder", "member"]]);
    // Joining again with a lower role changes nothing.
    expect((await b.session.join.mutate({ token: link.token })).role).toBe("member");
    const listed = await o.session.invites.query({ sessionId: session.id });
    expect(listed).toMatchObject([{ id: link.id, role: "viewer", uses: 1, revokedAt: null }]);
    expect(JSON.stringify(listed)).not.toContain(link.token);

    await o.session.revokeInvite.mutate({ id: link.id });
    const carol = await makePrincipal(t, "member", "carol");
    expect(await outcome(t.client({ token: carol.token }).api.session.join.mutate({ token: link.token }))).toBe("NOT_FOUND");

    expect(await outcome(o.session.leave.mutate({ sessionId: session.id }))).toBe("BAD_REQUEST");
    await b.session.leave.mutate({ sessionId: session.id });
    expect(await outcome(b.session.get.query({ id: session.id }))).toBe("FORBIDDEN");
  });

  it("invites a person by name or display name, and refuses an unknown or ambiguous name", async () => {
    const o = t.client({ token: owner.token }).api;
    const session = await o.session.create.mutate({ title: "by name" });
    const dora = await makePrincipal(t, "member", "dora");
    await t.client({ token: dora.token }).api.auth.updateProfile.mutate({ displayName: "Dora the Explorer" });
    expect(await o.session.inviteByName.mutate({ sessionId: session.id, name: "dora the explorer", role: "viewer" })).toMatchObject({
      principalId: dora.id,
      role: "viewer",
      name: "Dora the Explorer",
    });
    expect(await outcome(o.session.inviteByName.mutate({ sessionId: session.id, name: "nobody at all" }))).toBe("NOT_FOUND");
    await makePrincipal(t, "member", "twin");
    await makePrincipal(t, "member", "twin");
    expect(await outcome(o.session.inviteByName.mutate({ sessionId: session.id, name: "twin" }))).toBe("CONFLICT");
  });
});

describe("profiles", () => {
  it("new posts and presence show the display name and avatar colour", async () => {
    const eve = await makePrincipal(t, "member", "eve");
    const e = t.client({ token: eve.token });
    const session = await e.api.session.create.mutate({ title: "profiles" });
    const before = await e.api.message.post.mutate({ sessionId: session.id, content: "before" });
    expect(before.author).toBe("eve");
    expect(await e.api.auth.updateProfile.mutate({ displayName: "Eve Online", avatarColor: "#10B981" })).toEqual({
      name: "eve",
      displayName: "Eve Online",
      avatarColor: "#10b981",
    });
    expect(await e.api.auth.me.query()).toMatchObject({ name: "Eve Online", profile: { name: "eve", displayName: "Eve Online", avatarColor: "#10b981" } });
    const after = await e.api.message.post.mutate({ sessionId: session.id, content: "after" });
    expect(after.author).toBe("Eve Online");
    // Presence (a fresh WebSocket authenticates with the new profile).
    const fresh = t.client({ token: eve.token });
    const room = collect<{ members: { name: string; color: string | null }[] }>((h) => fresh.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    await waitFor(() => room.items.some((u) => u.members.length > 0), "presence");
    expect(room.items.at(-1)?.members[0]).toMatchObject({ name: "Eve Online", color: "#10b981" });
    room.unsubscribe();
    expect(await outcome(e.api.auth.updateProfile.mutate({ avatarColor: "blue" }))).toBe("BAD_REQUEST");
  });
});
