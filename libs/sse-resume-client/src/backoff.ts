/** When to reconnect. Every limit is an option. */
export interface ReconnectOptions {
  /** Delay before reconnecting until the server sends `retry:`. Default 1000 ms. */
  initialDelayMs?: number;
  /** Use the server's `retry:` as the base delay. Default true. */
  honorServerRetry?: boolean;
  /** Cap of the backed-off delay (and of a `Retry-After`). Default 30000 ms. */
  maxDelayMs?: number;
  /** Growth of the delay per consecutive failure. Default 2. */
  factor?: number;
  /**
   * Retries allowed after consecutive failed attempts (attempts that brought no new event):
   * the attempt after `maxRetries` failed retries fails the stream with
   * `RetriesExhaustedError` (0: the first failure does). Default `Infinity`: a task stream
   * is worth waiting for.
   */
  maxRetries?: number;
}

export type ResolvedReconnect = Required<ReconnectOptions>;

export function resolveReconnect(options: ReconnectOptions = {}): ResolvedReconnect {
  const resolved = {
    initialDelayMs: options.initialDelayMs ?? 1000,
    honorServerRetry: options.honorServerRetry ?? true,
    maxDelayMs: options.maxDelayMs ?? 30_000,
    factor: options.factor ?? 2,
    maxRetries: options.maxRetries ?? Infinity,
  };
  const { initialDelayMs, maxDelayMs, factor, maxRetries } = resolved;
  if (!(initialDelayMs >= 0 && maxDelayMs >= 0 && maxRetries >= 0 && factor >= 1)) {
    throw new RangeError('reconnect: delays and maxRetries must be >= 0, factor >= 1');
  }
  return resolved;
}

/**
 * Delay before the next attempt. `failures` counts consecutive attempts that brought no new
 * event: 0 (the stream had delivered events, then closed) waits `baseMs`, as `EventSource`
 * does; after that, "full jitter": a uniform draw in [0, min(maxDelayMs, baseMs × factor^n)],
 * so that clients cut at the same moment do not come back at the same moment.
 */
export function reconnectDelay(
  failures: number,
  baseMs: number,
  options: ResolvedReconnect,
  random: () => number = Math.random,
): number {
  if (failures <= 0) return Math.min(baseMs, options.maxDelayMs);
  const ceiling = Math.min(options.maxDelayMs, Math.max(baseMs, 1) * options.factor ** failures);
  return Math.floor(random() * ceiling);
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; `undefined` when absent or malformed. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
