/** How a store is doing, as its optional `health()` reports it (see `TaskStore.health`). */
export interface StoreHealth {
  /**
   * `up`: it answers and can serve requests. `down`: requests would fail now (e.g. 503
   * `STORE_UNAVAILABLE`), or tasks this instance runs are at risk (their leases are not renewed).
   */
  status: 'up' | 'down';
  /** Why it is down. */
  message?: string;
  /** Round trip of a cheap request to the store (Redis: `PING`), in ms, when it answered. */
  latencyMs?: number;
  /** Anything else worth reporting (Redis: connection states, failed lease renewals). Plain JSON values. */
  [detail: string]: string | number | boolean | undefined;
}

/** What a health check asks of `TaskStore.health`. */
export interface StoreHealthOptions {
  /** Longest the store may take to answer; past it, it reports `down`. */
  timeoutMs: number;
}
