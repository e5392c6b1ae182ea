// Which Host names this server answers: the defence against DNS rebinding. A
// page on http://rebind.example:3000 whose name later resolves to 127.0.0.1 is
// same-origin with the server in the browser's eyes, so "same origin" means
// nothing unless the Host it sends is one the server is for. Requests and
// upgrades naming any other host are refused (421) before anything else runs.
import net from "node:net";
import type { Config } from "../env";
import { isLoopbackHost } from "../env";

/** Addresses that mean "every interface": loopback included, and any IP a client may use to reach it. */
const WILDCARD_BINDS = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * The host name of a Host header, lower-cased, without port, brackets or a
 * trailing dot (`LocalHost.:3000` → `localhost`, `[::1]:80` → `::1`); null
 * when the header is missing or is not a host[:port].
 */
export function hostName(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::\d{1,5})?$/i.exec(header.trim());
  if (!match) return null;
  if (match[1] !== undefined) return net.isIPv6(match[1]) ? unmapped(match[1].toLowerCase()) : null;
  const name = (match[2] ?? "").toLowerCase().replace(/\.$/, "");
  return name === "" || name.startsWith(".") || name.includes("..") ? null : name;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: an IPv4 address written as IPv6 is the IPv4 address. */
export function unmapped(address: string): string {
  const v4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return v4?.[1] ?? address;
}

function isLoopbackName(name: string): boolean {
  return name === "localhost" || (net.isIP(name) !== 0 && isLoopbackHost(name));
}

/**
 * The accepted names, from the configuration:
 * - bound to loopback (127.0.0.1, ::1, localhost): the loopback names (localhost, 127.x.x.x, ::1);
 * - bound to every interface (0.0.0.0, ::): those, and any IP address (a page
 *   loaded from an address is never another site's, so rebinding needs a name);
 * - bound to one address or name: that one;
 * - PUBLIC_URL's host, and PARLEY_ALLOWED_HOSTS (`name`, `*.domain`, or `*` for any).
 */
export class HostCheck {
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly loopback: boolean;
  private readonly anyAddress: boolean;
  private readonly anyName: boolean;

  constructor(config: Pick<Config, "HOST" | "PUBLIC_URL" | "PARLEY_ALLOWED_HOSTS">) {
    const bind = config.HOST.toLowerCase();
    this.anyAddress = WILDCARD_BINDS.has(bind);
    this.loopback = this.anyAddress || isLoopbackHost(bind);
    if (!this.loopback) this.add(bind);
    if (config.PUBLIC_URL) this.add(new URL(config.PUBLIC_URL).host);
    for (const entry of config.PARLEY_ALLOWED_HOSTS) this.add(entry);
    this.anyName = config.PARLEY_ALLOWED_HOSTS.includes("*");
  }

  private add(entry: string): void {
    if (entry.startsWith("*.")) {
      this.suffixes.push(entry.slice(1));
      return;
    }
    const name = net.isIPv6(entry) ? unmapped(entry.toLowerCase()) : hostName(entry);
    if (name) this.names.add(name);
  }

  /** Whether a request with this Host header is for this server. */
  allows(header: string | undefined): boolean {
    if (this.anyName) return true;
    const name = hostName(header);
    if (name === null) return false;
    if (this.names.has(name)) return true;
    if (this.loopback && isLoopbackName(name)) return true;
    if (this.anyAddress && net.isIP(name) !== 0) return true;
    return this.suffixes.some((suffix) => name.endsWith(suffix) && name.length > suffix.length);
  }

  /** What a refused request is told: which names are accepted and how to add one. */
  refusal(header: string | undefined): string {
    const accepted = [
      ...(this.loopback ? ["localhost", "127.0.0.1", "[::1]"] : []),
      ...(this.anyAddress ? ["any IP address"] : []),
      ...this.names,
      ...this.suffixes.map((s) => `*${s}`),
    ];
    return (
      `this server does not answer to host ${JSON.stringify((header ?? "").slice(0, 100))} (a defence against DNS rebinding); ` +
      `it answers to ${accepted.join(", ") || "no name"}. Set PUBLIC_URL or PARLEY_ALLOWED_HOSTS to add a name.\n`
    );
  }
}
