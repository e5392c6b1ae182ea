// Who the client of a request is, behind the proxies PARLEY_TRUSTED_PROXIES
// names. Their X-Forwarded-For and X-Forwarded-Proto are believed; nobody
// else's are (a client can send any header). Per-address limits, the HTTP
// per-connection rate and the cookie's Secure flag use what this returns.
import type { IncomingMessage } from "node:http";
import net from "node:net";
import type { Logger } from "pino";
import { unmapped } from "./hosts";

export interface RequestClient {
  /** The client's address: the TCP peer, or the first untrusted hop of X-Forwarded-For when the peer is a trusted proxy. */
  address: string;
  /** A trusted proxy forwarded the request (`address` comes from X-Forwarded-For). */
  viaProxy: boolean;
  /** The client used https: a TLS socket, or a trusted proxy's X-Forwarded-Proto says so. */
  secure: boolean;
}

/** One hop of X-Forwarded-For (`203.0.113.7`, `[2001:db8::1]:4711`, `203.0.113.7:4711`) as an address, or null. */
function hopAddress(hop: string): string | null {
  const text = hop.trim();
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/i.exec(text);
  const candidate = bracketed?.[1] ?? (net.isIP(text) !== 0 ? text : /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text)?.[1]);
  return candidate !== undefined && net.isIP(candidate) !== 0 ? unmapped(candidate.toLowerCase()) : null;
}

/**
 * What per-address limits count a client by. An IPv4 address is itself; an
 * IPv6 client is its /64, since one host is normally given a whole /64 and
 * could otherwise take a fresh address for every connection.
 */
export function addressKey(address: string): string {
  const plain = unmapped(address.toLowerCase());
  if (net.isIP(plain) !== 6) return plain;
  const [head = "", tail] = plain.split("::", 2);
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  // An embedded IPv4 tail (::ffff:… is unmapped above; others like 64:ff9b::1.2.3.4) is two groups.
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length - (right.at(-1)?.includes(".") ? 1 : 0))).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** The last value of a header a proxy may have appended to (`https, http` → `http`). */
function lastValue(header: string | string[] | undefined): string | null {
  const joined = Array.isArray(header) ? header.join(",") : header;
  const last = joined?.split(",").at(-1)?.trim().toLowerCase();
  return last ? last : null;
}

export class TrustedProxies {
  private readonly list: net.BlockList | null;
  private warnedUntrusted = false;

  /** @param entries PARLEY_TRUSTED_PROXIES: addresses and CIDRs (validated by env.ts). */
  constructor(
    entries: readonly string[],
    private readonly log: Pick<Logger, "warn">,
  ) {
    if (entries.length === 0) {
      this.list = null;
      return;
    }
    const list = new net.BlockList();
    for (const entry of entries) {
      const [address = "", bits] = entry.split("/");
      const plain = unmapped(address.toLowerCase());
      const type = net.isIPv6(plain) ? "ipv6" : "ipv4";
      if (bits === undefined) list.addAddress(plain, type);
      else list.addSubnet(plain, Number(bits), type);
    }
    this.list = list;
  }

  isTrusted(address: string): boolean {
    const plain = unmapped(address);
    const family = net.isIP(plain);
    return this.list !== null && family !== 0 && this.list.check(plain, family === 6 ? "ipv6" : "ipv4");
  }

  /**
   * The request's client. X-Forwarded-For is read from the right (the hop
   * the nearest proxy appended) past every trusted proxy; the first address
   * that is not one is the client, so what a client writes into the header
   * itself (left of its real address) is never reached.
   */
  clientOf(req: IncomingMessage): RequestClient {
    const peer = unmapped(req.socket.remoteAddress ?? "unknown");
    const tls = "encrypted" in req.socket && req.socket.encrypted === true;
    if (!this.isTrusted(peer)) {
      if (!this.warnedUntrusted && req.headers["x-forwarded-for"] !== undefined) {
        this.warnedUntrusted = true;
        this.log.warn(
          { peer },
          "a request carries X-Forwarded-For from an address not in PARLEY_TRUSTED_PROXIES: it is ignored, and every client behind that proxy shares its per-address limits",
        );
      }
      return { address: peer, viaProxy: false, secure: tls };
    }
    const forwarded = req.headers["x-forwarded-for"];
    const hops = (Array.isArray(forwarded) ? forwarded.join(",") : (forwarded ?? "")).split(",");
    let client: string | null = null;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hopAddress(hops[i] ?? "");
      if (hop === null) break; // not an address: nothing left of it is believed
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    const proto = lastValue(req.headers["x-forwarded-proto"]);
    return { address: client ?? peer, viaProxy: client !== null, secure: proto === null ? tls : proto === "https" };
  }
}
