// Per-address limits count an IPv6 client by its /64: one host normally has a
// whole /64 and could otherwise open each connection from a fresh address.
import { describe, expect, it } from "vitest";
import { Limits } from "../src/server/auth/limits";
import { addressKey } from "../src/server/auth/proxies";
import { parseConfig } from "../src/server/env";

describe("addressKey", () => {
  it("keeps an IPv4 address (also IPv4-mapped IPv6) as it is", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  it("gives every spelling of addresses in one /64 the same key, and other /64s other keys", () => {
    const same = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:0DB8:0001:0002:0000:0000:0000:0009", "2001:db8:1:2:a:b:c:d"];
    for (const address of same) expect(addressKey(address), address).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1")).toBe("fe80:0:0:0::/64");
    expect(addressKey("2001:db8::")).toBe("2001:db8:0:0::/64");
    expect(addressKey("64:ff9b::192.0.2.1")).toBe("64:ff9b:0:0::/64");
  });

  it("makes MAX_CONNECTIONS_PER_ADDRESS hold for a client rotating through its /64", () => {
    const limits = new Limits(parseConfig({ MAX_CONNECTIONS_PER_ADDRESS: "3" }));
    const taken = [1, 2, 3].map((n) => limits.connectionsByAddress.take(`2001:db8:1:2::${n}`));
    expect(taken.every((release) => release !== null)).toBe(true);
    expect(limits.connectionsByAddress.take("2001:db8:1:2::99")).toBeNull();
    expect(limits.connectionsByAddress.take("2001:db8:1:3::1")).not.toBeNull(); // another /64 is another client
    taken[0]?.();
    expect(limits.connectionsByAddress.take("2001:db8:1:2::99")).not.toBeNull();
  });
});
