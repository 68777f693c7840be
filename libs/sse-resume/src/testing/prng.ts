/**
 * Seeded pseudo-random numbers for randomized tests, unit and e2e, and the stress and soak
 * scripts (test helper, not part of the public API). The seed comes from `SSE_RESUME_SEED`
 * when set, so a failing run can be replayed exactly.
 */
export const SEED_ENV = 'SSE_RESUME_SEED';

/** The seed to use: `SSE_RESUME_SEED` (an unsigned 32-bit integer) or a fresh random one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[SEED_ENV];
  if (raw !== undefined && raw !== '') {
    const seed = Number(raw);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`${SEED_ENV} must be an integer from 0 to 4294967295, got ${raw}`);
    }
    return seed;
  }
  return Math.floor(Math.random() * 0x100000000);
}

/** mulberry32: small, fast, good enough for choosing test actions. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick() from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }
}

/** Runs `body`; if it throws, the error message names the seed (rerun with `SSE_RESUME_SEED=<seed>`). */
export async function withSeed<T>(seed: number, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const note = `[seed ${seed}: rerun with ${SEED_ENV}=${seed}] `;
    if (error instanceof Error) {
      error.message = note + error.message;
      throw error;
    }
    throw new Error(note + String(error));
  }
}
