// fast-check arbitraries from a zod schema, through its JSON Schema (zod 4's
// z.toJSONSchema, input side): values the schema should accept, and values
// made from those by breaking one field (a wrong type, a dropped field). No
// maintained package does this for zod 4 (zod-fast-check supports zod 3 and
// fast-check 3). Covers what Parley's input schemas use: objects and records,
// strings (length, pattern), integers and numbers (bounds), booleans, null,
// arrays, enum, const, anyOf/oneOf/allOf and recursive $ref. Refinements are
// not in JSON Schema: callers keep only what `schema.safeParse` agrees with.
import fc from "fast-check";
import { z } from "zod";

type Schema = z.core.JSONSchema._JSONSchema;

export interface ArbitraryOptions {
  /** Values mixed in for properties of these names (real ids, so calls get past NOT_FOUND). */
  properties?: Record<string, fc.Arbitrary<unknown>>;
}

/** Past this depth of nesting, recursive schemas (JSON values) only produce leaves. */
const MAX_DEPTH = 3;
const INT32 = 2 ** 31 - 1;

/** A value as it arrives after JSON (what a tRPC call carries): undefined entries gone, -0 as 0. */
function asSent(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
}

/** Values of the schema's JSON Schema (input side), as sent; most, not all, pass `schema.safeParse`. */
export function arbitraryFor(schema: z.ZodType, options: ArbitraryOptions = {}): fc.Arbitrary<unknown> {
  return rawArbitraryFor(schema, options).map(asSent);
}

function rawArbitraryFor(schema: z.ZodType, options: ArbitraryOptions): fc.Arbitrary<unknown> {
  const root = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  const defs = root.$defs ?? {};

  const leaf = (s: Schema): boolean =>
    typeof s === "object" && s.$ref === undefined && s.anyOf === undefined && s.type !== "array" && s.type !== "object";

  const build = (s: Schema, depth: number): fc.Arbitrary<unknown> => {
    if (typeof s === "boolean") return fc.jsonValue({ maxDepth: 1 });
    if (s.$ref !== undefined) {
      const def = defs[s.$ref.replace("#/$defs/", "")];
      if (!def) throw new Error(`unresolved ${s.$ref}`);
      return build(def, depth + 1);
    }
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum !== undefined) return fc.constantFrom(...s.enum);
    const union = s.anyOf ?? s.oneOf;
    if (union !== undefined) {
      const options = depth >= MAX_DEPTH && union.some(leaf) ? union.filter(leaf) : union;
      return fc.oneof(...options.map((o) => build(o, depth)));
    }
    if (s.allOf !== undefined) {
      // Parley's allOf parts are objects (an event and its addressing): merge them.
      return fc.tuple(...s.allOf.map((o) => build(o, depth))).map((parts) => Object.assign({}, ...parts) as unknown);
    }
    if (Array.isArray(s.type)) return fc.oneof(...s.type.map((type) => build({ ...s, type }, depth)));
    switch (s.type) {
      case "object":
        return objectArbitrary(s, depth);
      case "array": {
        const items = s.items === undefined || Array.isArray(s.items) ? true : s.items;
        const maxLength = depth >= MAX_DEPTH ? (s.minItems ?? 0) : Math.min(s.maxItems ?? 4, (s.minItems ?? 0) + 4);
        return fc.array(build(items, depth + 1), { minLength: s.minItems ?? 0, maxLength });
      }
      case "string":
        return stringArbitrary(s);
      case "integer":
        return integerArbitrary(s);
      case "number":
        return fc.double({
          min: s.minimum ?? (typeof s.exclusiveMinimum === "number" ? s.exclusiveMinimum : -1e9),
          max: s.maximum ?? (typeof s.exclusiveMaximum === "number" ? s.exclusiveMaximum : 1e9),
          minExcluded: typeof s.exclusiveMinimum === "number",
          maxExcluded: typeof s.exclusiveMaximum === "number",
          noNaN: true,
          noDefaultInfinity: true,
        });
      case "boolean":
        return fc.boolean();
      case "null":
        return fc.constant(null);
      default:
        // No type (z.any, z.unknown, what JSON Schema cannot say): any JSON.
        return fc.jsonValue({ maxDepth: 2 });
    }
  };

  const objectArbitrary = (s: z.core.JSONSchema.JSONSchema, depth: number): fc.Arbitrary<unknown> => {
    const properties = Object.entries(s.properties ?? {});
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [key, property] of properties) {
      const generated = build(property, depth + 1);
      const mixed = options.properties?.[key];
      model[key] = mixed ? fc.oneof(generated, mixed) : generated;
    }
    const known = fc.record(model, { requiredKeys: s.required ?? [] });
    const extra = s.additionalProperties;
    if (properties.length > 0 || extra === undefined || extra === false) return known;
    // A record (metadata, JSON objects): keys from propertyNames.
    const keys = typeof s.propertyNames === "object" ? stringArbitrary(s.propertyNames) : fc.string({ maxLength: 20 });
    return fc.dictionary(keys, build(extra, depth + 1), { maxKeys: depth >= MAX_DEPTH ? 0 : 3 });
  };

  return build(root, 0);
}

function stringArbitrary(s: z.core.JSONSchema.JSONSchema): fc.Arbitrary<string> {
  const minLength = s.minLength ?? 0;
  const maxLength = s.maxLength;
  if (s.pattern !== undefined) {
    const pattern = new RegExp(s.pattern);
    return fc.stringMatching(pattern).filter((v) => v.length >= minLength && (maxLength === undefined || v.length <= maxLength));
  }
  const shortMax = Math.min(maxLength ?? 40, minLength + 40);
  const choices: fc.Arbitrary<string>[] = [
    fc.string({ minLength, maxLength: shortMax }),
    // Any code point, lone surrogates included.
    fc.string({ minLength, maxLength: shortMax, unit: "binary" }),
  ];
  // The longest value allowed: limits are where off-by-one errors live.
  if (maxLength !== undefined && maxLength > shortMax) choices.push(fc.constant("é".repeat(maxLength)));
  return fc.oneof(...choices);
}

function integerArbitrary(s: z.core.JSONSchema.JSONSchema): fc.Arbitrary<number> {
  const min = Math.max(s.minimum ?? Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER);
  const max = Math.min(s.maximum ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  // fc.integer is 32-bit; the bounds themselves cover the rest of a wider range.
  const inner = fc.integer({ min: Math.max(min, -INT32), max: Math.min(max, INT32) });
  return min >= -INT32 && max <= INT32 ? inner : fc.oneof(inner, fc.constantFrom(min, max));
}

/** Values of a wrong kind for any field. */
const wrongValues: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, 0, -1, 0.5, 1e21, "", true, [], {}),
  fc.string({ maxLength: 3 }),
  fc.anything({ maxDepth: 2 }),
);

/** Every place in a JSON value that a mutation can replace: [container, key]. */
function placesIn(value: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      out.push([value, i]);
      placesIn(item, out);
    });
  } else if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      out.push([record, key]);
      placesIn(record[key], out);
    }
  }
  return out;
}

/**
 * Inputs the schema refuses, each a valid one with one change: a field
 * replaced by a wrong value, a field dropped, or the whole input replaced.
 */
export function invalidArbitraryFor(schema: z.ZodType, options: ArbitraryOptions = {}): fc.Arbitrary<unknown> {
  return fc
    .tuple(arbitraryFor(schema, options), fc.nat(), wrongValues, fc.constantFrom("replace", "drop", "whole"))
    .map(([valid, pick, wrong, how]) => {
      const value = asSent(valid);
      const places = placesIn(value);
      const place = places[pick % Math.max(1, places.length)];
      if (how === "whole" || !place) return wrong;
      const [container, key] = place;
      if (how === "drop" && !Array.isArray(container)) delete container[key];
      else (container as Record<string | number, unknown>)[key] = wrong;
      return asSent(value);
    })
    .filter((value) => !schema.safeParse(value).success);
}
