// The vectors of embedded memories, in memory, searched exactly by cosine
// similarity (vectors are unit length, so a dot product). Brute force: one pass
// over a packed float32 matrix per query; bench/memory.ts measures where it
// stops fitting the recall budget (see README, Memory and search).

export interface Neighbour {
  seq: number;
  similarity: number;
}

export class VectorIndex {
  private dimensions = 0;
  private matrix = new Float32Array(0);
  private seqs = new Int32Array(0);
  private readonly slots = new Map<number, number>();

  get size(): number {
    return this.slots.size;
  }

  /** Vector length of this index (0 while empty). */
  get width(): number {
    return this.dimensions;
  }

  /** Add or replace a memory's vector. A vector of another length than the index's is refused (false). */
  set(seq: number, vector: Float32Array): boolean {
    if (this.slots.size === 0 && this.dimensions !== vector.length) this.dimensions = vector.length;
    if (vector.length !== this.dimensions) return false;
    let slot = this.slots.get(seq);
    if (slot === undefined) {
      slot = this.slots.size;
      this.grow(slot + 1);
      this.slots.set(seq, slot);
      this.seqs[slot] = seq;
    }
    this.matrix.set(vector, slot * this.dimensions);
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
      const moved = this.seqs[last] ?? 0;
      this.seqs[slot] = moved;
      this.slots.set(moved, slot);
    }
    this.slots.delete(seq);
  }

  has(seq: number): boolean {
    return this.slots.has(seq);
  }

  /** The `k` most similar vectors to `query` (unit length), most similar first. */
  nearest(query: Float32Array, k: number): Neighbour[] {
    const n = this.slots.size;
    const d = this.dimensions;
    if (n === 0 || k <= 0 || query.length !== d) return [];
    const matrix = this.matrix;
    // A min-heap of the best k so far, in two parallel arrays.
    const heapScore = new Float32Array(Math.min(k, n));
    const heapSlot = new Int32Array(Math.min(k, n));
    let size = 0;
    for (let slot = 0, offset = 0; slot < n; slot++, offset += d) {
      let a = 0;
      let b = 0;
      let j = 0;
      for (; j + 1 < d; j += 2) {
        a += (matrix[offset + j] ?? 0) * (query[j] ?? 0);
        b += (matrix[offset + j + 1] ?? 0) * (query[j + 1] ?? 0);
      }
      if (j < d) a += (matrix[offset + j] ?? 0) * (query[j] ?? 0);
      const score = a + b;
      if (size < heapScore.length) {
        heapScore[size] = score;
        heapSlot[size] = slot;
        siftUp(heapScore, heapSlot, size++);
      } else if (score > (heapScore[0] ?? 0)) {
        heapScore[0] = score;
        heapSlot[0] = slot;
        siftDown(heapScore, heapSlot, size);
      }
    }
    const out: Neighbour[] = [];
    for (let i = 0; i < size; i++) out.push({ seq: this.seqs[heapSlot[i] ?? 0] ?? 0, similarity: heapScore[i] ?? 0 });
    return out.sort((x, y) => y.similarity - x.similarity || y.seq - x.seq);
  }

  clear(): void {
    this.slots.clear();
    this.dimensions = 0;
    this.matrix = new Float32Array(0);
    this.seqs = new Int32Array(0);
  }

  private grow(count: number): void {
    if (this.seqs.length >= count) return;
    const capacity = Math.max(count, Math.ceil(this.seqs.length * 1.5), 64);
    const matrix = new Float32Array(capacity * this.dimensions);
    matrix.set(this.matrix);
    this.matrix = matrix;
    const seqs = new Int32Array(capacity);
    seqs.set(this.seqs);
    this.seqs = seqs;
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
