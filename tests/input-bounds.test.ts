// The bounded input decoder against superjson's own: for every input a
// procedure can take (JSON values, `undefined` in objects and arrays, special
// numbers, the same object in several places, keys with dots and
// backslashes), what a superjson client sends decodes to what superjson would
// give; what it refuses is refused with a typed error naming the rule.
import fc from "fast-check";
import superjson, { SuperJSON } from "superjson";
import { describe, expect, it } from "vitest";
import { decodeInput, inputRefusal } from "../src/server/auth/input-bounds";

/** What the server receives: the client's serialization, as JSON text parsed again. */
const wire = (value: unknown, serializer: SuperJSON = superjson as unknown as SuperJSON) => JSON.parse(JSON.stringify(serializer.serialize(value)) ?? "null") as unknown;

const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("a.b", "a\\b", "a\\.b", ".", "\\", "0", "1"));
const inputValue = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
  node: fc.oneof({ depthSize: "small" }, tie("leaf"), fc.array(tie("node"), { maxLength: 4 }), fc.dictionary(key, tie("node"), { maxKeys: 4 })),
})).node;

describe("decodeInput", () => {
  it("decodes what a superjson client sends exactly as superjson does", () => {
    fc.assert(
      fc.property(inputValue, (value) => {
        const decoded = decodeInput(wire(value));
        expect(inputRefusal(decoded)).toBeNull();
        expect(decoded).toEqual(superjson.deserialize(superjson.serialize(value)));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps an object shared in several places (superjson's referentialEqualities) as one object", () => {
    const shared = { tag: "x", list: [1, 2] };
    const payload = wire({ a: shared, b: [shared, { c: shared }] });
    const decoded = decodeInput(payload) as { a: object; b: [object, { c: object }] };
    expect(decoded).toEqual({ a: shared, b: [shared, { c: shared }] });
    expect(decoded.b[0]).toBe(decoded.a);
    expect(decoded.b[1].c).toBe(decoded.a);
  });

  it("reads legacy (v0) paths, which have no escapes", () => {
    expect(decodeInput({ json: { "a\\b": {} }, meta: { values: { "a\\b.x": ["undefined"] } } })).toEqual({ "a\\b": { x: undefined } });
  });

  it.each([
    ["a Date", { json: { at: "2026-01-01T00:00:00.000Z" }, meta: { v: 1, values: { at: ["Date"] } } }, "BAD_REQUEST", /Date is not accepted/],
    ["a Set", { json: { s: [1] }, meta: { v: 1, values: { s: ["set"] } } }, "BAD_REQUEST", /set is not accepted/],
    ["a class", { json: { c: {} }, meta: { v: 1, values: { c: [["class", "X"]] } } }, "BAD_REQUEST", /not accepted/],
    ["a path into nothing", { json: {}, meta: { v: 1, values: { "a.b": ["undefined"] } } }, "BAD_REQUEST", /names no place/],
    ["a __proto__ path", { json: {}, meta: { v: 1, values: { __proto__x: ["undefined"], "__proto__.polluted": ["undefined"] } } }, "BAD_REQUEST", /not a valid path/],
    ["a cycle", { json: { a: { b: null } }, meta: { v: 1, referentialEqualities: { a: ["a.b"] } } }, "BAD_REQUEST", /cycle/],
    ["the root inside itself", { json: { a: null }, meta: { v: 1, referentialEqualities: [["a"]] } }, "BAD_REQUEST", /cycle/],
    ["nesting past 64", { json: JSON.parse(`${"[".repeat(70)}${"]".repeat(70)}`) as unknown }, "BAD_REQUEST", /deeper than 64/],
    ["not superjson's shape", [1, 2], "BAD_REQUEST", /superjson/],
  ])("refuses %s", (_what, payload, code, message) => {
    const error = inputRefusal(decodeInput(payload));
    expect(error?.code).toBe(code);
    expect(error?.message).toMatch(message);
  });

  it("refuses shared references that expand past twice the request, and nesting made deep by references", () => {
    let doubling: object = { leaf: 1 };
    for (let level = 0; level < 20; level++) doubling = { l: doubling, r: doubling };
    const dedupe = new SuperJSON({ dedupe: true });
    expect(inputRefusal(decodeInput(wire(doubling, dedupe)))?.code).toBe("PAYLOAD_TOO_LARGE");
    // The same value written out in full (superjson's default) is as big as it decodes: accepted.
    let small: object = { leaf: 1 };
    for (let level = 0; level < 8; level++) small = { l: small, r: small };
    expect(inputRefusal(decodeInput(wire(small)))).toBeNull();
    let chain: object = { end: true };
    for (let level = 0; level < 100; level++) chain = { next: chain, same: chain };
    expect(inputRefusal(decodeInput(wire(chain, dedupe)))?.message).toMatch(/deeper than 64/);
  });
});
