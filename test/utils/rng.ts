/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
export interface Rng {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { seed: seed >>> 0, next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/**
 * The seed of a randomized test: `E2E_SEED` when set (to replay a failure), else a fresh
 * random one. Tests print it when they fail (see {@link withSeed}).
 */
export function testSeed(): number {
  const fromEnv = process.env.E2E_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed) || seed < 0)
      throw new Error(`E2E_SEED must be a non-negative integer, got ${fromEnv}`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 4_294_967_296);
}

/** Runs `body`; if it throws, the error message names the seed (rerun with `E2E_SEED=<seed>`). */
export async function withSeed<T>(seed: number, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const note = `[seed ${seed}: rerun with E2E_SEED=${seed}] `;
    if (error instanceof Error) {
      error.message = note + error.message;
      throw error;
    }
    throw new Error(note + String(error));
  }
}
