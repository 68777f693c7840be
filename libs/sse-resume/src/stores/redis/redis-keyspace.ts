import { RedisKeys, type TaskKeyPart } from './redis-keys';

/** Redis Cluster's slot count. */
export const CLUSTER_SLOTS = 16_384;
/** The most buckets a keyspace may have (each is found by a short search at startup). */
export const MAX_BUCKETS = 1024;

/**
 * Maps tasks to the key namespaces ({@link RedisKeys}) that hold them.
 *
 * One Redis node: one namespace, the key prefix itself (`sse:{taskId}:meta`, `sse:running`).
 *
 * Redis Cluster: `buckets` namespaces `sse:{<tag>}:`, each a hash tag of its own. A task
 * belongs to the bucket its id hashes to, and its keys are named inside it
 * (`sse:{<tag>}:{taskId}:meta`: Redis hashes only the first `{...}`), so the task's keys,
 * its live channel and its bucket's bookkeeping (`running`, `bytes`, `finished`, `fence`,
 * the resume-key index, the control channel) all share one slot, and every script stays
 * inside one slot. The tags are chosen so that bucket k's slot lies in the k-th of
 * `buckets` equal slot ranges: any even split of the slots over primaries gets an even
 * share of the buckets.
 */
export class RedisKeyspace {
  readonly buckets: readonly RedisKeys[];

  /** On a Cluster (`cluster`) every bucket is a hash tag, even a single one. */
  readonly cluster: boolean;

  constructor(
    readonly prefix: string,
    bucketCount = 1,
    cluster = bucketCount > 1,
  ) {
    this.cluster = cluster;
    if (!Number.isInteger(bucketCount) || bucketCount < 1 || bucketCount > MAX_BUCKETS) {
      throw new RangeError(`buckets must be an integer from 1 to ${MAX_BUCKETS}, got ${bucketCount}`);
    }
    if (cluster && /[{}]/.test(prefix)) {
      throw new RangeError(`the key prefix may not contain "{" or "}" with Redis Cluster, got "${prefix}"`);
    }
    this.buckets = cluster
      ? bucketTags(bucketCount).map((tag) => new RedisKeys(`${prefix}{${tag}}:`))
      : [new RedisKeys(prefix)];
    if (!cluster && bucketCount > 1) throw new RangeError('buckets apply to a Redis Cluster only');
  }

  /** More than one bucket: creates count across them. */
  get sharded(): boolean {
    return this.buckets.length > 1;
  }

  /** The index of the bucket a task belongs to. */
  bucketOf(taskId: string): number {
    return this.buckets.length === 1 ? 0 : crc16(taskId) % this.buckets.length;
  }

  /** The namespace of a task's keys. */
  of(taskId: string): RedisKeys {
    return this.buckets[this.bucketOf(taskId)]!;
  }

  /** Groups task ids by bucket (on a Cluster, a pipeline may only hold one slot's keys). */
  byBucket(taskIds: Iterable<string>): Map<RedisKeys, string[]> {
    const groups = new Map<RedisKeys, string[]>();
    for (const taskId of taskIds) {
      const keys = this.of(taskId);
      const group = groups.get(keys);
      if (group) group.push(taskId);
      else groups.set(keys, [taskId]);
    }
    return groups;
  }

  /* A task's keys, named in its bucket (see RedisKeys). */

  taskKey(taskId: string, part: TaskKeyPart): string {
    return this.of(taskId).taskKey(taskId, part);
  }

  taskKeys(taskId: string): string[] {
    return this.of(taskId).taskKeys(taskId);
  }

  writeKeys(taskId: string): string[] {
    return this.of(taskId).writeKeys(taskId);
  }

  liveChannel(taskId: string): string {
    return this.of(taskId).liveChannel(taskId);
  }

  /** Where a resume key's index entry may be: its task's bucket is not known from the key. */
  keyIndexes(keyHash: string): string[] {
    return this.buckets.map((keys) => keys.keyIndex(keyHash));
  }
}

/**
 * One hash tag per bucket, bucket k's slot in [k, k + 1) × 16384 / count. Deterministic, so
 * every instance derives the same tags.
 */
export function bucketTags(count: number): string[] {
  const tags: string[] = [];
  for (let k = 0; k < count; k++) {
    const low = Math.floor((k * CLUSTER_SLOTS) / count);
    const high = Math.floor(((k + 1) * CLUSTER_SLOTS) / count);
    for (let n = 0; ; n++) {
      const tag = `b${k}.${n}`;
      const slot = keySlot(tag);
      if (slot >= low && slot < high) {
        tags.push(tag);
        break;
      }
    }
  }
  return tags;
}

/** The Cluster slot of a key: CRC16 of its hash tag (the first non-empty `{...}`), else of the whole key. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % CLUSTER_SLOTS;
  }
  return crc16(key) % CLUSTER_SLOTS;
}

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-CCITT (XMODEM) of the UTF-8 bytes of `text`: Redis Cluster's key hash. */
export function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, 'utf8'))
    crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}
