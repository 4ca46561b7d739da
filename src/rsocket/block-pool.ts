/**
 * Fixed-size blocks of memory reused for bytes a connection holds across
 * many frames (fragments of payloads being reassembled). Copying such bytes
 * out of the transport's buffers into fresh arrays makes each copy live long
 * enough for the garbage collector to promote it, and off-heap memory held by
 * promoted objects comes back only at a full collection, which V8 starts
 * late (after tens of MiB of growth): under a flood of fragments that are
 * shed or never finished, the process grew by the flood, not by what it
 * held. Blocks given back here are taken again by the next fragments, so the
 * memory in use follows what is held (the memory budget bounds that), and
 * the transport's buffers die young, where a scavenge frees them.
 *
 * Bounded: at most `maxFreeBytes` of free blocks are kept; blocks given
 * back beyond that are left to the garbage collector. Isomorphic: no Node
 * modules.
 */

/** Block size of the shared pool, in bytes (16 KiB). */
export const BLOCK_BYTES = 16 * 1024;
/** Free bytes the shared pool keeps for reuse at most (2 MiB: more than one connection's 32 fragments of 48 KiB). */
export const POOL_FREE_BYTES = 2 * 1024 * 1024;

export class BlockPool {
  private readonly free: Uint8Array[] = [];
  private readonly maxFree: number;

  /**
   * @param blockSize bytes per block (default 16 KiB)
   * @param maxFreeBytes free bytes kept for reuse at most (default 2 MiB); 0 keeps none
   */
  constructor(
    readonly blockSize = BLOCK_BYTES,
    maxFreeBytes = POOL_FREE_BYTES,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError('block size must be a positive integer number of bytes');
    this.maxFree = Math.floor(maxFreeBytes / blockSize);
  }

  /** Free bytes kept now. */
  get freeBytes(): number {
    return this.free.length * this.blockSize;
  }

  /** A block of `blockSize` bytes, reused when one is free; its content is whatever it held before. */
  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(this.blockSize);
  }

  /** Gives blocks back for reuse (up to the free bound); the caller keeps no reference to them. */
  give(blocks: readonly Uint8Array[]): void {
    for (const block of blocks) {
      if (this.free.length >= this.maxFree) return;
      if (block.length === this.blockSize) this.free.push(block);
    }
  }
}

/**
 * Bytes appended in pieces, kept in pool blocks: the last block is filled
 * before another is taken, so the bytes held are the length rounded up to a
 * block. `bytes()` copies them out into one array the caller owns.
 */
export class BlockChain {
  private blocks: Uint8Array[] = [];
  /** Bytes appended. */
  length = 0;

  constructor(private readonly pool: BlockPool) {}

  /** Bytes of blocks held (the length rounded up to whole blocks). */
  get heldBytes(): number {
    return this.blocks.length * this.pool.blockSize;
  }

  /** Copies `bytes` in; the caller may reuse or drop them afterwards. */
  append(bytes: Uint8Array): void {
    const size = this.pool.blockSize;
    let from = 0;
    while (from < bytes.length) {
      const used = this.length % size;
      if (used === 0) this.blocks.push(this.pool.take());
      const n = Math.min(size - used, bytes.length - from);
      this.blocks[this.blocks.length - 1]!.set(bytes.subarray(from, from + n), used);
      from += n;
      this.length += n;
    }
  }

  /** The bytes appended, copied into one new array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    const size = this.pool.blockSize;
    for (let i = 0, o = 0; o < this.length; i++, o += size) out.set(this.blocks[i]!.subarray(0, Math.min(size, this.length - o)), o);
    return out;
  }

  /** Gives every block back to the pool; the chain is empty afterwards. */
  release(): void {
    this.pool.give(this.blocks);
    this.blocks = [];
    this.length = 0;
  }
}
