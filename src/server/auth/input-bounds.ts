// Decoding procedure inputs, bounded. Inputs arrive in superjson's format
// (`{ json, meta }`), and superjson applies `meta` as the request says: its
// shared references (`meta.referentialEqualities`) let a request of a few
// kilobytes decode into a graph with 2^depth paths, which every later walk
// (zod, a size check's JSON.stringify, Prisma) then pays in full; paths into
// a Set or Map cost superjson a scan per step. Parley's inputs are JSON values
// (no input schema accepts a Date, Map, Set or class), so this decoder accepts
// what such inputs can need and bounds what it builds, before anything walks it:
//
// - `json` at most INPUT_MAX_DEPTH levels deep;
// - value annotations `undefined` (optional fields) and `number` (NaN,
//   ±Infinity, -0: zod then says what it expects) at the leaves; nothing else;
// - shared references, as superjson makes them, as long as the value they
//   build, counted as a tree, stays within INPUT_MAX_DEPTH and twice the
//   request's own JSON values (plus a little); never a cycle.
//
// Every step is linear in the request's size. A refused input is not thrown
// here (a throw inside tRPC's WebSocket parser answers with no request id, so
// the caller would wait forever): `decodeInput` returns a refusal marker that
// the procedure gate (trpc.ts) turns into a typed error for that call.
import { TRPCError } from "@trpc/server";

/** Deepest nesting an input may have, in its JSON and as decoded. */
export const INPUT_MAX_DEPTH = 64;
/** Values that shared references may add beyond doubling the request's own (see module comment). */
const SHARED_SLACK = 1_024;

const REFUSED = Symbol("parley.refused-input");

interface Refusal {
  code: "BAD_REQUEST" | "PAYLOAD_TOO_LARGE";
  message: string;
}

/**
 * The marker returned for a refused input. An own enumerable symbol survives
 * the `{ ...input, lastEventId }` copy tRPC makes for resumed subscriptions.
 */
type RefusedInput = { [REFUSED]: Refusal };

function refuse(code: Refusal["code"], message: string): RefusedInput {
  return { [REFUSED]: { code, message: `input refused: ${message}` } };
}

/** The typed error for a refused input, or null when `raw` is an accepted input. */
export function inputRefusal(raw: unknown): TRPCError | null {
  if (typeof raw !== "object" || raw === null || !(REFUSED in raw)) return null;
  const { code, message } = (raw as RefusedInput)[REFUSED];
  return new TRPCError({ code, message });
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === "object" && value !== null;
}

/** Keys superjson refuses in paths (prototype pollution); so does this decoder. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Decode a superjson payload as a procedure input (tRPC's input
 * `deserialize`). Works in place: the payload is the request's own freshly
 * parsed JSON. Returns the input, or a marker that `inputRefusal` recognises.
 */
export function decodeInput(payload: unknown): unknown {
  if (payload === undefined) return undefined;
  if (!isContainer(payload) || Array.isArray(payload)) {
    return refuse("BAD_REQUEST", 'an input is sent as superjson\'s { "json": …, "meta"?: … }');
  }
  const { json, meta } = payload as { json?: unknown; meta?: unknown };
  const nodes = countTree(json);
  if (typeof nodes !== "number") return nodes;
  if (meta === undefined) return json;
  if (!isContainer(meta) || Array.isArray(meta)) return refuse("BAD_REQUEST", "meta must be an object");
  const { values, referentialEqualities, v } = meta as { values?: unknown; referentialEqualities?: unknown; v?: unknown };
  const legacyPaths = v === undefined || v === 0;
  const root = { value: json };
  if (values !== undefined) {
    const refused = applyValues(root, values, legacyPaths);
    if (refused) return refused;
  }
  if (referentialEqualities !== undefined) {
    const refused = applyReferences(root, referentialEqualities, legacyPaths) ?? checkExpansion(root.value, 2 * nodes + SHARED_SLACK);
    if (refused) return refused;
  }
  return root.value;
}

/** Values in `json` (each object, array and primitive counts one), or a refusal when it is too deep. */
function countTree(json: unknown): number | RefusedInput {
  let count = 0;
  const stack: [unknown, number][] = [[json, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    count++;
    if (!isContainer(value)) continue;
    if (depth > INPUT_MAX_DEPTH) return refuse("BAD_REQUEST", `nested deeper than ${INPUT_MAX_DEPTH} levels`);
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return count;
}

/** superjson's path syntax: segments joined by ".", with "\." and "\\" escapes (none in legacy paths). */
function parsePath(text: string, legacy: boolean): string[] | null {
  const segments: string[] = [];
  let segment = "";
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "\\" && !legacy) {
      const next = text[i + 1];
      if (next !== "\\" && next !== ".") return null;
      segment += next;
      i++;
    } else if (char === "\\" && text[i + 1] === ".") {
      segment += ".";
      i++;
    } else if (char === ".") {
      segments.push(segment);
      segment = "";
    } else {
      segment += char;
    }
  }
  segments.push(segment);
  return segments.some((key) => FORBIDDEN_KEYS.has(key)) ? null : segments;
}

/** Where a path points: its parent container and last key (the slot may be empty); null when the path does not resolve. */
function slotAt(root: { value: unknown }, path: string[]): { parent: Container; key: string } | null {
  if (path.length === 0) return null;
  let parent: unknown = root.value;
  for (const key of path.slice(0, -1)) {
    if (!isContainer(parent) || !Object.hasOwn(parent, key)) return null;
    parent = (parent as Record<string, unknown>)[key];
  }
  if (!isContainer(parent)) return null;
  return { parent, key: path[path.length - 1] as string };
}

function readAt(root: { value: unknown }, path: string[]): { found: boolean; value: unknown } {
  if (path.length === 0) return { found: true, value: root.value };
  const slot = slotAt(root, path);
  if (!slot || !Object.hasOwn(slot.parent, slot.key)) return { found: false, value: undefined };
  return { found: true, value: (slot.parent as Record<string, unknown>)[slot.key] };
}

function writeAt(root: { value: unknown }, path: string[], value: unknown): boolean {
  if (path.length === 0) {
    root.value = value;
    return true;
  }
  const slot = slotAt(root, path);
  if (!slot) return false;
  if (Array.isArray(slot.parent)) {
    const index = Number(slot.key);
    if (!Number.isInteger(index) || index < 0 || index >= slot.parent.length) return false;
    slot.parent[index] = value;
  } else {
    slot.parent[slot.key] = value;
  }
  return true;
}

/** A leaf annotation's value, or a refusal naming the type and where it was. */
function untransform(type: unknown, json: unknown, where: string): { value: unknown } | RefusedInput {
  if (type === "undefined") return { value: undefined };
  if (type === "number" && typeof json === "string") return { value: Number(json) };
  const name = typeof type === "string" ? type : JSON.stringify(type).slice(0, 40);
  return refuse("BAD_REQUEST", `${where}: superjson type ${name} is not accepted (inputs are JSON values)`);
}

/** `meta.values`: leaf annotations `[type]`, for the root or by path. */
function applyValues(root: { value: unknown }, values: unknown, legacy: boolean): RefusedInput | null {
  if (Array.isArray(values)) {
    if (values.length !== 1) return refuse("BAD_REQUEST", "the input's annotation must be a leaf [type]");
    const result = untransform(values[0], root.value, "the input");
    if (REFUSED in result) return result;
    root.value = result.value;
    return null;
  }
  if (!isContainer(values)) return refuse("BAD_REQUEST", "meta.values must be an object or [type]");
  for (const [pathText, tree] of Object.entries(values)) {
    const path = parsePath(pathText, legacy);
    if (!path) return refuse("BAD_REQUEST", `meta.values path ${JSON.stringify(pathText.slice(0, 80))} is not a valid path`);
    if (!Array.isArray(tree) || tree.length !== 1) {
      return refuse("BAD_REQUEST", `meta.values at ${JSON.stringify(pathText.slice(0, 80))} must be a leaf [type]`);
    }
    const current = readAt(root, path);
    const result = untransform(tree[0], current.value, JSON.stringify(pathText.slice(0, 80)));
    if (REFUSED in result) return result;
    if (!writeAt(root, path, result.value)) {
      return refuse("BAD_REQUEST", `meta.values path ${JSON.stringify(pathText.slice(0, 80))} names no place in json`);
    }
  }
  return null;
}

/** `meta.referentialEqualities`: `{ path: [samePaths] }`, or `[rootPaths, { … }?]` (a place equal to the root is a cycle). */
function applyReferences(root: { value: unknown }, references: unknown, legacy: boolean): RefusedInput | null {
  let byPath = references;
  if (Array.isArray(references)) {
    const [rootPaths, other] = references as unknown[];
    if (Array.isArray(rootPaths) && rootPaths.length > 0) return refuse("BAD_REQUEST", "a value may not contain itself (cycle)");
    byPath = other ?? {};
  }
  if (!isContainer(byPath) || Array.isArray(byPath)) return refuse("BAD_REQUEST", "meta.referentialEqualities must be an object");
  for (const [sourceText, targets] of Object.entries(byPath)) {
    const source = parsePath(sourceText, legacy);
    const shown = JSON.stringify(sourceText.slice(0, 80));
    if (!source || !Array.isArray(targets)) return refuse("BAD_REQUEST", `meta.referentialEqualities at ${shown} is not a valid entry`);
    const { found, value } = readAt(root, source);
    if (!found) return refuse("BAD_REQUEST", `meta.referentialEqualities path ${shown} names no place in json`);
    for (const targetText of targets) {
      const target = typeof targetText === "string" ? parsePath(targetText, legacy) : null;
      if (!target || !writeAt(root, target, value)) {
        return refuse("BAD_REQUEST", `meta.referentialEqualities target of ${shown} names no place in json`);
      }
    }
  }
  return null;
}

/**
 * After shared references: the value counted as a tree (each place a shared
 * part appears counts in full), without walking it as one. Each container is
 * visited once (post-order, iterative); a container reached again while it is
 * still open is a cycle.
 */
function checkExpansion(value: unknown, maxValues: number): RefusedInput | null {
  if (!isContainer(value)) return null;
  const done = new Map<object, { size: number; depth: number }>();
  const open = new Set<object>();
  const stack: { node: Container; children: unknown[]; next: number; size: number; depth: number }[] = [];
  const enter = (node: Container) => {
    open.add(node);
    stack.push({ node, children: Object.values(node), next: 0, size: 1, depth: 1 });
  };
  enter(value);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as (typeof stack)[number];
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++];
      if (!isContainer(child)) {
        frame.size++;
        continue;
      }
      const known = done.get(child);
      if (known) {
        frame.size += known.size;
        frame.depth = Math.max(frame.depth, known.depth + 1);
      } else if (open.has(child)) {
        return refuse("BAD_REQUEST", "a value may not contain itself (cycle)");
      } else {
        enter(child);
      }
      continue;
    }
    stack.pop();
    open.delete(frame.node);
    if (frame.size > maxValues) {
      return refuse("PAYLOAD_TOO_LARGE", `shared references expand it past ${maxValues} values (twice the request's own, plus ${SHARED_SLACK})`);
    }
    if (frame.depth > INPUT_MAX_DEPTH) return refuse("BAD_REQUEST", `nested deeper than ${INPUT_MAX_DEPTH} levels once shared references are applied`);
    done.set(frame.node, { size: frame.size, depth: frame.depth });
    const parent = stack[stack.length - 1];
    if (parent) {
      parent.size += frame.size;
      parent.depth = Math.max(parent.depth, frame.depth + 1);
    }
  }
  return null;
}
