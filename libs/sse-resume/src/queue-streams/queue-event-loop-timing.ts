/** Timing of the loop; defaults suit production. */
export interface QueueEventLoopTiming {
  /** Entries per XREAD. Default 500. */
  batch?: number;
  /** Longest XREAD block, ms (the loop notices `stop()` at once anyway). Default 5 000. */
  blockMs?: number;
  /** How often the logs of mirrored jobs are checked, ms. Default 1 000. */
  logPollMs?: number;
  /** Wait after a failed round before the next, ms. Default 1 000. */
  retryMs?: number;
}
