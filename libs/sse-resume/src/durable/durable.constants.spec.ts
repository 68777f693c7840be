import { RESERVED_EVENTS } from '../sse-resume.constants';
import { resolveDurableOptions } from '../sse-resume.options';
import * as constants from './durable.constants';

describe('durable constants', () => {
  it('are the defaults that resolveDurableOptions fills in (as durable-options.interface.ts documents them)', () => {
    expect(resolveDurableOptions({})).toMatchObject({
      queueName: constants.DEFAULT_DURABLE_QUEUE_NAME,
      prefix: constants.DEFAULT_DURABLE_PREFIX,
      concurrency: constants.DEFAULT_DURABLE_CONCURRENCY,
      lockDurationMs: constants.DEFAULT_DURABLE_LOCK_DURATION_MS,
      stalledIntervalMs: constants.DEFAULT_DURABLE_STALLED_INTERVAL_MS,
      maxStalledCount: constants.DEFAULT_DURABLE_MAX_STALLED_COUNT,
      attempts: constants.DEFAULT_DURABLE_ATTEMPTS,
      backoff: constants.DEFAULT_DURABLE_BACKOFF,
    });
  });

  it('name the retry event, which non-durable tasks may still use (only durable handlers have it reserved)', () => {
    expect(constants.RETRY_EVENT).toBe('retry');
    expect(RESERVED_EVENTS.has(constants.RETRY_EVENT)).toBe(false);
  });
});
