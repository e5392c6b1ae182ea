// The vectors of embedded memories, in memory, searched by cosine similarity
// (vectors are unit length, so a dot product). Up to EXACT_SCAN_MAX vectors:
// exact, one pass over a packed float32 matrix. Past it: each vector's signs
// are kept as bits too (32 times smaller), the query is scored against those
// bits with its own float values (a table per query byte), and the best
// RERANKED_PER_RESULT times k by that estimate are scored exactly. Adding,
// replacing and deleting stay O(dimensions); nothing is rebuilt. Measured
// (recall against exact, time) in docs/memory.md.

export interface Neighbour {
  seq: number;
  similarity: number;
}

/** Up to this many vectors, `nearest` is exact (about 7 ms for 10,000 of 384 dimensions here). */
export const EXACT_SCAN_MAX = 10_000;
/** Past EXACT_SCAN_MAX: candidates by the sign estimate, per result wanted, scored exactly (at least RERANKED_MIN). */
export const RERANKED_PER_RESULT = 8;
export const RERANKED_MIN = 1_000;

export class VectorIndex {
  private dimensions = 0;
  /** 32-bit words of sign bits per vector. */
  private words = 0;
  private matrix = new Float32Array(0);
  private signs = new Int32Array(0);
  private seqs = new Int32Array(0);
  private readonly slots = new Map<number, number>();

  /** `exactUpTo`: EXACT_SCAN_MAX (smaller in tests, to reach the estimated path with few vectors). */
  constructor(private readonly exactUpTo = EXACT_SCAN_MAX) {}

  get size(): number {
    return this.slots.size;
  }

  /** Vector length of this index (0 while empty). */
  get width(): number {
    return this.dimensions;
  }

  /** Add or replace a memory's vector. A vector of another length than the index's is refused (false). */
  set(seq: number, vector: Float32Array): boolean {
    if (this.slots.size === 0 && this.dimensions !== vector.length) {
      this.dimensions = vector.length;
      this.words = Math.ceil(vector.length / 32);
      this.matrix = new Float32Array(0);
      this.signs = new Int32Array(0);
      this.seqs = new Int32Array(0);
    }
    if (vector.length !== this.dimensions) return false;
    let slot = this.slots.get(seq);
    if (slot === undefined) {
      slot = this.slots.size;
      this.grow(slot + 1);
      this.slots.set(seq, slot);
      this.seqs[slot] = seq;
    }
    this.matrix.set(vector, slot * this.dimensions);
    const signs = this.signs;
    const base = slot * this.words;
    signs.fill(0, base, base + this.words);
    for (let j = 0; j < vector.length; j++) if ((vector[j] ?? 0) > 0) signs[base + (j >> 5)] = (signs[base + (j >> 5)] ?? 0) | (1 << (j & 31));
    return true;
  }

  delete(seq: number): void {
    const slot = this.slots.get(seq);
    if (slot === undefined) return;
    const last = this.slots.size - 1;
    if (slot !== last) {
      // The last vector moves into the hole, so the matrix stays packed.
      const d = this.dimensions;
      this.matrix.copyWithin(slot * d, last * d, (last + 1) * d);
      const w = this.words;
      this.signs.copyWithin(slot * w, last * w, (last + 1) * w);
      const moved = this.seqs[last] ?? 0;
      this.seqs[slot] = moved;
      this.slots.set(moved, slot);
    }
    this.slots.delete(seq);
  }

  has(seq: number): boolean {
    return this.slots.has(seq);
  }

  /** The `k` most similar vectors to `query` (unit length), most similar first: exact up to `exactUpTo` vectors, estimated then scored exactly past it. */
  nearest(query: Float32Array, k: number): Neighbour[] {
    if (this.slots.size <= this.exactUpTo) return this.exactNearest(query, k);
    if (k <= 0 || query.length !== this.dimensions) return [];
    const candidates = this.estimatedBest(query, Math.min(this.slots.size, Math.max(k * RERANKED_PER_RESULT, RERANKED_MIN)));
    const best = new TopK(Math.min(k, candidates.size));
    for (let i = 0; i < candidates.size; i++) {
      const slot = candidates.slots[i] ?? 0;
      best.offer(this.similarity(query, slot), slot);
    }
    return this.neighbours(best);
  }

  /** The `k` most similar vectors to `query`, by comparing it with every vector. */
  exactNearest(query: Float32Array, k: number): Neighbour[] {
    const n = this.slots.size;
    if (n === 0 || k <= 0 || query.length !== this.dimensions) return [];
    const best = new TopK(Math.min(k, n));
    for (let slot = 0; slot < n; slot++) best.offer(this.similarity(query, slot), slot);
    return this.neighbours(best);
  }

  private neighbours(best: TopK): Neighbour[] {
    const out: Neighbour[] = [];
    for (let i = 0; i < best.size; i++) out.push({ seq: this.seqs[best.slots[i] ?? 0] ?? 0, similarity: best.scores[i] ?? 0 });
    return out.sort((x, y) => y.similarity - x.similarity || y.seq - x.seq);
  }

  /** The exact dot product of `query` with the vector in `slot`. */
  private similarity(query: Float32Array, slot: number): number {
    const matrix = this.matrix;
    const d = this.dimensions;
    const offset = slot * d;
    let a = 0;
    let b = 0;
    let j = 0;
    for (; j + 1 < d; j += 2) {
      a += (matrix[offset + j] ?? 0) * (query[j] ?? 0);
      b += (matrix[offset + j + 1] ?? 0) * (query[j + 1] ?? 0);
    }
    if (j < d) a += (matrix[offset + j] ?? 0) * (query[j] ?? 0);
    return a + b;
  }

  /**
   * The `count` slots whose vectors score best against `query` when each of
   * their values is taken as its sign: the sum of the query's values where the
   * vector's are positive (ranks as the dot product with the signs does). A
   * table per byte of sign bits holds those sums for all 256 patterns, so a
   * vector costs 4 look-ups per 32 dimensions.
   */
  private estimatedBest(query: Float32Array, count: number): TopK {
    const bytes = this.words * 4;
    const table = new Float32Array(bytes * 256);
    for (let byte = 0; byte < bytes; byte++) {
      const row = byte * 256;
      for (let pattern = 1; pattern < 256; pattern++) {
        const lowest = pattern & -pattern;
        table[row + pattern] = (table[row + (pattern ^ lowest)] ?? 0) + (query[byte * 8 + 31 - Math.clz32(lowest)] ?? 0);
      }
    }
    const best = new TopK(count);
    const signs = this.signs;
    const words = this.words;
    for (let slot = 0, offset = 0; slot < this.slots.size; slot++, offset += words) {
      let score = 0;
      for (let w = 0, row = 0; w < words; w++, row += 1024) {
        const x = signs[offset + w] ?? 0;
        score += (table[row + (x & 255)] ?? 0) + (table[row + 256 + ((x >>> 8) & 255)] ?? 0) + (table[row + 512 + ((x >>> 16) & 255)] ?? 0) + (table[row + 768 + (x >>> 24)] ?? 0);
      }
      best.offer(score, slot);
    }
    return best;
  }

  clear(): void {
    this.slots.clear();
    this.dimensions = 0;
    this.words = 0;
    this.matrix = new Float32Array(0);
    this.signs = new Int32Array(0);
    this.seqs = new Int32Array(0);
  }

  private grow(count: number): void {
    if (this.seqs.length >= count) return;
    const capacity = Math.max(count, Math.ceil(this.seqs.length * 1.5), 64);
    const matrix = new Float32Array(capacity * this.dimensions);
    matrix.set(this.matrix);
    this.matrix = matrix;
    const signs = new Int32Array(capacity * this.words);
    signs.set(this.signs);
    this.signs = signs;
    const seqs = new Int32Array(capacity);
    seqs.set(this.seqs);
    this.seqs = seqs;
  }
}

/** The best `capacity` (score, slot) pairs offered: a min-heap in two parallel arrays, the worst kept at the root. */
class TopK {
  readonly scores: Float32Array;
  readonly slots: Int32Array;
  size = 0;

  constructor(private readonly capacity: number) {
    this.scores = new Float32Array(capacity);
    this.slots = new Int32Array(capacity);
  }

  offer(score: number, slot: number): void {
    if (this.size < this.capacity) {
      this.scores[this.size] = score;
      this.slots[this.size] = slot;
      siftUp(this.scores, this.slots, this.size++);
    } else if (this.capacity > 0 && score > (this.scores[0] ?? 0)) {
      this.scores[0] = score;
      this.slots[0] = slot;
      siftDown(this.scores, this.slots, this.size);
    }
  }
}

function swap(score: Float32Array, slot: Int32Array, i: number, j: number): void {
  const s = score[i] ?? 0;
  score[i] = score[j] ?? 0;
  score[j] = s;
  const t = slot[i] ?? 0;
  slot[i] = slot[j] ?? 0;
  slot[j] = t;
}

function siftUp(score: Float32Array, slot: Int32Array, i: number): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((score[parent] ?? 0) <= (score[i] ?? 0)) return;
    swap(score, slot, i, parent);
    i = parent;
  }
}

function siftDown(score: Float32Array, slot: Int32Array, size: number): void {
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < size && (score[left] ?? 0) < (score[smallest] ?? 0)) smallest = left;
    if (right < size && (score[right] ?? 0) < (score[smallest] ?? 0)) smallest = right;
    if (smallest === i) return;
    swap(score, slot, i, smallest);
    i = smallest;
  }
}
