// The in-memory vector index behind recall by meaning: exact up to its
// threshold, estimated from sign bits then scored exactly past it. Seeded
// clustered vectors (like embeddings: topics plus noise), compared with the
// exact answer; deletes and replacements must never leave a stale vector.
import { describe, expect, it } from "vitest";
import { unitVector } from "../src/server/memory/embeddings";
import { VectorIndex } from "../src/server/memory/vectors";
import { random } from "../src/server/realtime/faults";

const DIMENSIONS = 96;

/** `count` unit vectors around `topics` random centres, repeatable. */
function corpus(count: number, topics = 40, seed = 11): Float32Array[] {
  const next = random(seed);
  const centres = Array.from({ length: topics }, () => Float32Array.from({ length: DIMENSIONS }, () => next() - 0.5));
  return Array.from({ length: count }, (_, i) => {
    const centre = centres[i % topics] ?? new Float32Array(DIMENSIONS);
    return unitVector(Float32Array.from(centre, (v) => v + (next() - 0.5) * 0.8));
  });
}

function filled(vectors: readonly Float32Array[], exactUpTo: number): VectorIndex {
  const index = new VectorIndex(exactUpTo);
  vectors.forEach((v, i) => index.set(i + 1, v));
  return index;
}

const overlap = (a: { seq: number }[], b: { seq: number }[]) => {
  const wanted = new Set(b.map((n) => n.seq));
  return a.filter((n) => wanted.has(n.seq)).length / b.length;
};

describe("vector index", () => {
  const vectors = corpus(6_000);
  const queries = corpus(50, 40, 99);

  it("past its exact threshold, finds nearly all of the exact nearest neighbours, with their exact similarities", () => {
    const index = filled(vectors, 1_000);
    let found = 0;
    for (const query of queries) {
      const exact = index.exactNearest(query, 10);
      const estimated = index.nearest(query, 10);
      expect(estimated).toHaveLength(10);
      for (const hit of estimated) expect(hit.similarity).toBeCloseTo(exact.find((e) => e.seq === hit.seq)?.similarity ?? hit.similarity, 5);
      found += overlap(estimated, exact);
    }
    expect(found / queries.length).toBeGreaterThanOrEqual(0.95);
  });

  it("is exact up to its threshold", () => {
    const index = filled(vectors.slice(0, 900), 1_000);
    for (const query of queries.slice(0, 10)) expect(index.nearest(query, 20)).toEqual(index.exactNearest(query, 20));
  });

  it("never returns a deleted or replaced vector, and finds what moved into a deleted one's place", () => {
    const index = filled(vectors, 1_000);
    const query = queries[0] ?? new Float32Array(DIMENSIONS);
    const before = index.nearest(query, 5);
    // Delete the best two (the last vectors move into their slots), and turn the third away from the query.
    for (const hit of before.slice(0, 2)) index.delete(hit.seq);
    const third = before[2]?.seq ?? 0;
    index.set(third, unitVector(Float32Array.from(query, (v) => -v)));
    const after = index.nearest(query, 5);
    const seqs = after.map((n) => n.seq);
    expect(seqs).not.toContain(before[0]?.seq);
    expect(seqs).not.toContain(before[1]?.seq);
    expect(seqs).not.toContain(third);
    expect(after.map((n) => n.seq)).toEqual(index.exactNearest(query, 5).map((n) => n.seq));
    // The vector that filled the first hole is found by its own value.
    const moved = vectors.at(-1) ?? new Float32Array(DIMENSIONS);
    const [self] = index.nearest(moved, 1);
    expect(self?.seq).toBe(vectors.length);
    expect(self?.similarity).toBeCloseTo(1, 5);
    expect(index.size).toBe(vectors.length - 2);
  });

  it("starts over at another width once emptied, and refuses other widths until then", () => {
    const index = filled(vectors.slice(0, 3), 0);
    expect(index.set(99, new Float32Array(8).fill(0.25))).toBe(false);
    for (const seq of [1, 2, 3]) index.delete(seq);
    expect(index.set(99, unitVector(new Float32Array(40).fill(1)))).toBe(true);
    const found = index.nearest(unitVector(new Float32Array(40).fill(1)), 3);
    expect(found.map((n) => n.seq)).toEqual([99]);
    expect(found[0]?.similarity).toBeCloseTo(1, 5);
  });
});
