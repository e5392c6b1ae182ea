// The HTTP edge with forged headers, against real servers: which Host names
// the server answers (DNS rebinding, authentication on or off), whose
// X-Forwarded-For / X-Forwarded-Proto it believes (PARLEY_TRUSTED_PROXIES),
// CORS for PARLEY_ALLOWED_ORIGINS, and sign-in as a same-origin form post.
// (The same in Chromium: tests/browser-auth.test.ts; behind nginx:
// tests/scale-out-nginx.test.ts.)
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { HostCheck } from "../src/server/auth/hosts";
import { signInTokenFor } from "../src/server/auth/tokens";
import { parseConfig } from "../src/server/env";
import { holdSocket, makePrincipal, upgrade, type TestPrincipal } from "./helpers/auth";
import { rawRequest } from "./helpers/http";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

const servers: TestServer[] = [];
async function server(env: Record<string, string>): Promise<TestServer> {
  const t = await startTestServer(env);
  servers.push(t);
  return t;
}
afterAll(async () => {
  await Promise.all(servers.map((t) => t.close()));
});

const port = (t: TestServer) => new URL(t.url).port;

/** Host headers naming another site (rebinding), or no usable host at all. */
const foreignHosts = (p: string) => [
  `rebind.example:${p}`,
  "rebind.example",
  `127.0.0.1.nip.io:${p}`,
  `localhost.rebind.example:${p}`,
  `evil.localhost.example:${p}`,
  `127.0.0.1@rebind.example:${p}`,
  `[::1]x:${p}`,
  "2130706433", // 127.0.0.1 as a number: browsers never send it; a forged request may
  "localhost..",
  "-",
];

/** A request with no Host header at all (HTTP/1.0 allows it): the raw answer's status. */
function statusWithoutHost(url: string): Promise<number> {
  const { hostname, port: p } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(p), hostname, () => socket.write("GET /api/health HTTP/1.0\r\n\r\n"));
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
    socket.on("end", () => resolve(Number(/^HTTP\/1\.\d (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.on("error", reject);
  });
}
/** Loopback names, spelled as a browser or a client may. */
const loopbackHosts = (p: string) => [`127.0.0.1:${p}`, `localhost:${p}`, `LOCALHOST.:${p}`, `[::1]:${p}`, `127.0.0.2:${p}`, "localhost"];

describe("host names (DNS rebinding)", () => {
  for (const auth of ["off", "on"] as const) {
    it(`with authentication ${auth}: a foreign Host gets 421 on every HTTP path and on the upgrade; loopback names are served`, async () => {
      const t = await server({ PARLEY_AUTH: auth });
      const p = port(t);
      for (const host of foreignHosts(p)) {
        for (const [method, path] of [
          ["GET", "/api/health"],
          ["GET", "/api/trpc/session.list"],
          ["POST", "/api/trpc/session.create"],
          ["GET", "/"],
          ["GET", "/signin?token=pt_x"],
          ["POST", "/api/auth/signin"],
        ] as const) {
          const response = await rawRequest(`${t.url}${path}`, {
            method,
            headers: { host, "content-type": "application/json", origin: `http://${host}` },
            body: method === "POST" ? JSON.stringify({ json: { title: "rebound" } }) : undefined,
          }).catch((error: unknown) => ({ status: -1, body: String(error) }));
          // Node answers a Host it cannot parse with 400 itself; everything else is ours.
          expect([421, 400], `${method} ${path} with Host ${JSON.stringify(host)}`).toContain(response.status);
        }
        expect(await upgrade(t.url, { host, origin: `http://${host}` }), `upgrade with Host ${JSON.stringify(host)}`).toBe(421);
      }
      expect(await statusWithoutHost(t.url)).toBe(421);
      const sessions = await t.server.deps.db.session.count();
      expect(sessions).toBe(0);
      for (const host of loopbackHosts(p)) {
        const health = await rawRequest(`${t.url}/api/health`, { headers: { host } });
        expect(health.status, `Host ${host}`).toBe(200);
        expect(await upgrade(t.url, { host }), `upgrade with Host ${host}`).toBe("open");
      }
      const refusal = await rawRequest(`${t.url}/api/health`, { headers: { host: `rebind.example:${p}` } });
      expect(refusal.body).toContain("PARLEY_ALLOWED_HOSTS");
    });
  }

  it("also answers PUBLIC_URL's host and PARLEY_ALLOWED_HOSTS entries (a *.domain covers subdomains only)", async () => {
    const t = await server({ PARLEY_AUTH: "on", PUBLIC_URL: "https://parley.example.com", PARLEY_ALLOWED_HOSTS: "intranet.example,*.apps.example" });
    const status = async (host: string) => (await rawRequest(`${t.url}/api/health`, { headers: { host } })).status;
    expect(await status("parley.example.com")).toBe(200);
    expect(await status("PARLEY.example.com:443")).toBe(200);
    expect(await status("intranet.example:8080")).toBe(200);
    expect(await status("a.apps.example")).toBe(200);
    expect(await status("apps.example")).toBe(421);
    expect(await status("parley.example.com.evil.example")).toBe(421);
    expect(await status("evilapps.example")).toBe(421);
    expect(await upgrade(t.url, { host: "intranet.example" })).toBe("open");
    expect(await upgrade(t.url, { host: "other.example" })).toBe(421);
  });

  it("decides by the address it is bound to: loopback names on loopback, also IP addresses on every interface, the bound name otherwise", () => {
    const check = (HOST: string, env: Record<string, string> = {}) =>
      new HostCheck(parseConfig({ PARLEY_AUTH: "on", HOST, ...env }));
    const loopback = check("127.0.0.1");
    expect(["localhost", "127.0.0.1:3000", "127.8.9.10", "[::1]:3000"].every((h) => loopback.allows(h))).toBe(true);
    expect(["10.0.0.5", "rebind.example", "[::ffff:10.0.0.5]"].some((h) => loopback.allows(h))).toBe(false);
    expect(loopback.allows("[::ffff:127.0.0.1]:3000")).toBe(true);
    const all = check("0.0.0.0");
    expect(["localhost:3000", "10.0.0.5:3000", "[fd00::1]:3000", "192.168.1.20"].every((h) => all.allows(h))).toBe(true);
    expect(["parley.internal", "rebind.example", "10.0.0.5.nip.io"].some((h) => all.allows(h))).toBe(false);
    const one = check("10.0.0.5");
    expect(one.allows("10.0.0.5:3000")).toBe(true);
    expect(["10.0.0.6", "localhost", "127.0.0.1"].some((h) => one.allows(h))).toBe(false);
    const named = check("parley.internal");
    expect(named.allows("parley.internal:3000")).toBe(true);
    expect(named.allows("other.internal")).toBe(false);
    expect(check("0.0.0.0", { PARLEY_ALLOWED_HOSTS: "*" }).allows("anything.example")).toBe(true);
    expect(() => parseConfig({ PARLEY_ALLOWED_HOSTS: "bad host!" })).toThrow(/PARLEY_ALLOWED_HOSTS/);
  });
});

describe("trusted proxies", () => {
  it("without PARLEY_TRUSTED_PROXIES, X-Forwarded-For is ignored: a forged one does not escape the per-address limit", async () => {
    const t = await server({ MAX_CONNECTIONS_PER_ADDRESS: "2" });
    const held = [await holdSocket(t.url), await holdSocket(t.url, { "x-forwarded-for": "203.0.113.1" })];
    expect(await holdSocket(t.url, { "x-forwarded-for": "203.0.113.2" })).toBe("refused 429 retry-after 1");
    // Another machine (another loopback address) is its own address.
    const other = await holdSocket(t.url, {}, { localAddress: "127.0.0.2" });
    expect(other).toBeInstanceOf(WebSocket);
    for (const ws of [...held, other]) if (ws instanceof WebSocket) ws.close();
  });

  it("keys the per-address limit on the client a trusted proxy names, never on hops a client wrote itself", async () => {
    const t = await server({ MAX_CONNECTIONS_PER_ADDRESS: "2", PARLEY_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8" });
    // The proxy (127.0.0.1) forwards two clients; each gets its own two slots.
    const a = [await holdSocket(t.url, { "x-forwarded-for": "203.0.113.1" }), await holdSocket(t.url, { "x-forwarded-for": "203.0.113.1" })];
    expect(a.every((ws) => ws instanceof WebSocket)).toBe(true);
    expect(await holdSocket(t.url, { "x-forwarded-for": "203.0.113.1" })).toBe("refused 429 retry-after 1");
    // Client A writes a hop of its own: the proxy appends A's real address, which is what counts.
    expect(await holdSocket(t.url, { "x-forwarded-for": "198.51.100.9, 203.0.113.1" })).toBe("refused 429 retry-after 1");
    // Behind a second trusted proxy (10.0.0.7), still client A.
    expect(await holdSocket(t.url, { "x-forwarded-for": "203.0.113.1, 10.0.0.7" })).toBe("refused 429 retry-after 1");
    const b = await holdSocket(t.url, { "x-forwarded-for": "203.0.113.2" });
    expect(b).toBeInstanceOf(WebSocket);
    // An untrusted peer's X-Forwarded-For is its own business: it is keyed on its own address.
    const untrusted = [await holdSocket(t.url, { "x-forwarded-for": "203.0.113.3" }, { localAddress: "127.0.0.2" }), await holdSocket(t.url, { "x-forwarded-for": "203.0.113.4" }, { localAddress: "127.0.0.2" })];
    expect(untrusted.every((ws) => ws instanceof WebSocket)).toBe(true);
    expect(await holdSocket(t.url, { "x-forwarded-for": "203.0.113.5" }, { localAddress: "127.0.0.2" })).toBe("refused 429 retry-after 1");
    for (const ws of [...a, b, ...untrusted]) if (ws instanceof WebSocket) ws.close();
    await waitFor(() => t.server.wsServer.clients.size === 0, "sockets closed");
  });

  it("keys the HTTP call rate on the client behind a trusted proxy, not on the proxy's keep-alive connection", async () => {
    const t = await server({ PARLEY_TRUSTED_PROXIES: "127.0.0.1", RATE_LIMIT_PER_CONNECTION: "5", RATE_LIMIT_BURST: "0" });
    // One keep-alive connection from the proxy carries both clients' calls, as nginx's upstream keepalive does.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const call = (client: string) =>
      rawRequest(`${t.url}/api/trpc/system.health`, { agent, headers: { "x-forwarded-for": client } }).then((r) => r.status);
    const burst: number[] = [];
    for (let i = 0; i < 12; i++) burst.push(await call("203.0.113.1"));
    expect(burst.filter((s) => s === 429).length).toBeGreaterThan(0);
    const other: number[] = [];
    for (let i = 0; i < 4; i++) other.push(await call("203.0.113.2"));
    expect(other).toEqual([200, 200, 200, 200]);
    agent.destroy();
  });

  it("marks the session cookie Secure when a trusted proxy says https, and only then", async () => {
    const t = await server({ PARLEY_AUTH: "on", PARLEY_TRUSTED_PROXIES: "127.0.0.1" });
    const admin = await makePrincipal(t, "admin");
    const signIn = async (headers: Record<string, string>, localAddress?: string) => {
      const token = await signInTokenFor(t.server.deps.db, admin.id, 60_000);
      const response = await rawRequest(`${t.url}/api/auth/signin`, {
        method: "POST",
        localAddress,
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams({ token }).toString(),
      });
      expect(response.status).toBe(303);
      return String(response.headers["set-cookie"]);
    };
    expect(await signIn({ "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.1" })).toMatch(/; Secure/);
    expect(await signIn({ "x-forwarded-proto": "http" })).not.toMatch(/Secure/);
    expect(await signIn({})).not.toMatch(/Secure/);
    // Not a trusted proxy: its X-Forwarded-Proto is not believed.
    expect(await signIn({ "x-forwarded-proto": "https" }, "127.0.0.2")).not.toMatch(/Secure/);
  });
});

describe("CORS (PARLEY_ALLOWED_ORIGINS)", () => {
  const LISTED = "https://app.example.com";
  const LOCAL_APP = "http://localhost:5173";
  let t: TestServer;
  let member: TestPrincipal;
  beforeAll(async () => {
    t = await server({ PARLEY_AUTH: "on", PARLEY_ALLOWED_ORIGINS: `${LISTED}, ${LOCAL_APP}/` });
    member = await makePrincipal(t, "member");
  });

  const preflight = (origin: string, host?: string) =>
    rawRequest(`${t.url}/api/trpc/session.list`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization, content-type", ...(host ? { host } : {}) },
    });

  it("answers a listed origin's preflight and its Bearer calls with CORS headers, never a wildcard", async () => {
    const answer = await preflight(LISTED);
    expect(answer.status).toBe(204);
    expect(answer.headers["access-control-allow-origin"]).toBe(LISTED);
    expect(answer.headers["access-control-allow-methods"]).toContain("POST");
    expect(answer.headers["access-control-allow-headers"]).toContain("authorization");
    expect(answer.headers.vary).toContain("Origin");
    // Another site: its fetches never carry the SameSite=Lax cookie, so no credentials.
    expect(answer.headers["access-control-allow-credentials"]).toBeUndefined();

    const call = await rawRequest(`${t.url}/api/trpc/session.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`, {
      headers: { origin: LISTED, authorization: `Bearer ${member.token}` },
    });
    expect(call.status).toBe(200);
    expect(call.headers["access-control-allow-origin"]).toBe(LISTED);
    const post = await rawRequest(`${t.url}/api/trpc/session.create`, {
      method: "POST",
      headers: { origin: LISTED, authorization: `Bearer ${member.token}`, "content-type": "application/json" },
      body: JSON.stringify({ json: { title: "from the app" } }),
    });
    expect(post.status).toBe(200);
    expect(post.headers["access-control-allow-origin"]).toBe(LISTED);
  });

  it("allows credentials only to a listed origin of the server's own site, where the browser sends the cookie", async () => {
    // localhost:5173 and the server at 127.0.0.1 are two sites; at localhost:<port> one.
    expect((await preflight(LOCAL_APP)).headers["access-control-allow-credentials"]).toBeUndefined();
    const sameSite = await preflight(LOCAL_APP, `localhost:${port(t)}`);
    expect(sameSite.headers["access-control-allow-origin"]).toBe(LOCAL_APP);
    expect(sameSite.headers["access-control-allow-credentials"]).toBe("true");
  });

  it("refuses other origins' preflights and sends them no CORS headers; the server's own origin needs none and keeps working", async () => {
    for (const origin of ["https://evil.example", "https://app.example.com.evil.example", "null", "http://app.example.com"]) {
      const answer = await preflight(origin);
      expect(answer.status, origin).toBe(403);
      expect(answer.headers["access-control-allow-origin"], origin).toBeUndefined();
      const call = await rawRequest(`${t.url}/api/trpc/system.health`, { headers: { origin } });
      expect(call.headers["access-control-allow-origin"], origin).toBeUndefined();
    }
    const own = await rawRequest(`${t.url}/api/trpc/auth.me`, { headers: { origin: t.url, authorization: `Bearer ${member.token}` } });
    expect(own.status).toBe(200);
    expect(own.headers["access-control-allow-origin"]).toBeUndefined();
    expect(await upgrade(t.url, { origin: t.url })).toBe("open");
    expect(await upgrade(t.url, { origin: LISTED })).toBe("open");
    expect(await upgrade(t.url, { origin: "https://evil.example" })).toBe(403);
  });
});

describe("sign-in", () => {
  let t: TestServer;
  let admin: TestPrincipal;
  beforeAll(async () => {
    t = await server({ PARLEY_AUTH: "on" });
    admin = await makePrincipal(t, "admin");
  });
  const post = (token: string, headers: Record<string, string>) =>
    rawRequest(`${t.url}/api/auth/signin`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ token }).toString(),
    });

  it("opening a sign-in link (a GET, any navigation) signs nobody in and leaves the link usable", async () => {
    const token = await signInTokenFor(t.server.deps.db, admin.id, 60_000);
    for (const path of [`/signin?token=${token}`, `/api/auth/signin?token=${token}`]) {
      const opened = await rawRequest(`${t.url}${path}`, { headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" } });
      expect(opened.headers["set-cookie"], path).toBeUndefined();
    }
    expect((await rawRequest(`${t.url}/api/auth/signin?token=${token}`)).status).toBe(405);
    const used = await post(token, { origin: t.url, "sec-fetch-site": "same-origin" });
    expect(used.status).toBe(303);
    expect(String(used.headers["set-cookie"])).toMatch(/^parley_session=pt_/);
  });

  it("refuses the form post from another site (Origin, Sec-Fetch-Site), and the refused token still works from the server's own page", async () => {
    const token = await signInTokenFor(t.server.deps.db, admin.id, 60_000);
    const attempts: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: `${t.url}.evil.example` },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
      { origin: t.url, "sec-fetch-site": "cross-site" },
      { origin: "https://evil.example", "sec-fetch-site": "same-origin" },
      { origin: "null", "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "none" },
    ];
    for (const headers of attempts) {
      const refused = await post(token, headers);
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(refused.headers["set-cookie"]).toBeUndefined();
    }
    // Chromium's same-origin form post under Referrer-Policy: no-referrer says Origin: null.
    expect((await post(token, { origin: "null", "sec-fetch-site": "same-origin" })).status).toBe(303);
    expect((await post(token, { origin: t.url })).status).toBe(401); // used once
  });
});
