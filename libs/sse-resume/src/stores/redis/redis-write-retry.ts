import { StoreUnavailableError } from '../../errors';

/** What {@link retryWrite} needs from the store. */
export interface WriteRetryContext {
  /** How long a write may keep failing with `StoreUnavailableError` before it is given up. */
  readonly retryMs: number;
  /** A closed store gives up at once. */
  isClosed(): boolean;
  /** Resolves once the connection is ready again, or after `ms`, whichever comes first. */
  waitForConnection(ms: number): Promise<void>;
}

/** First pause between attempts; it doubles up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 25;
const MAX_PAUSE_MS = 1_000;

/**
 * Runs a write until it succeeds. A `StoreUnavailableError` (connection lost or reset,
 * Redis loading) is retried, waiting for the connection, until it has lasted `retryMs`
 * since the first failure: then that error is thrown. Any other error is thrown at once.
 * The write must be idempotent: an attempt whose reply was lost may have been applied
 * (the Redis scripts recognize a repeated write by its token).
 */
export async function retryWrite<T>(write: () => Promise<T>, context: WriteRetryContext): Promise<T> {
  let giveUpAt: number | undefined;
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || context.isClosed()) throw err;
      const now = Date.now();
      giveUpAt ??= now + context.retryMs;
      if (now >= giveUpAt) throw err;
      await context.waitForConnection(Math.min(pause, giveUpAt - now));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  }
}
