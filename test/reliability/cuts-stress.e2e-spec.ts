import { type CutStressOptions, formatCutResult, runCutStress } from '../../scripts/stress';
import { seedFromEnv, withSeed } from '@app/sse-resume/testing/prng';
import { TEST_REDIS_URL } from '@app/sse-resume/testing/redis';

/**
 * Guarantee 1, small and seeded (the full run is `npm run stress`): tasks stream to resuming
 * clients through cutting proxies that drop connections at random byte offsets, head
 * included, alternately with FIN and RST, until exactly `cuts` cuts happened. Every client
 * must get ids 1..N+1 exactly once, in order, with the right data. Redis mode runs two
 * instances (Express + Fastify) on one Redis, each behind its own proxy; clients resume on
 * either, and sometimes pass the resume point as `?lastEventId=` instead of the header.
 * Rerun a failure with SSE_RESUME_SEED=<seed>.
 */
describe('no loss, no duplicates across cuts (seeded `npm run stress`)', () => {
  it.each<[string, Omit<CutStressOptions, 'seed'>]>([
    ['memory, express', { mode: 'memory', adapter: 'express', tasks: 4, events: 150, cuts: 80 }],
    ['memory, fastify', { mode: 'memory', adapter: 'fastify', tasks: 4, events: 150, cuts: 80 }],
    [
      'redis, express + fastify',
      { mode: 'redis', tasks: 4, events: 150, cuts: 80, redisUrl: TEST_REDIS_URL },
    ],
  ])('%s: 4 tasks x 150 events, 80 cuts: every id once, in order', async (_name, options) => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      const result = await runCutStress({ ...options, seed });
      const summary = formatCutResult(result);
      expect({
        summary,
        cuts: result.cuts.total,
        lost: result.lost,
        duplicated: result.duplicated,
        outOfOrder: result.outOfOrder,
        gaps: result.gaps,
        badFrames: result.badFrames,
        delivered: result.delivered,
      }).toEqual({
        summary,
        cuts: options.cuts,
        lost: 0,
        duplicated: 0,
        outOfOrder: 0,
        gaps: 0,
        badFrames: [],
        delivered: result.expected,
      });
      // Both kinds of cut, and some of them before the response head was complete.
      expect(Math.abs(result.cuts.fin - result.cuts.reset)).toBeLessThanOrEqual(result.instances.length);
      expect(result.cuts.inHead).toBeGreaterThan(0);
      for (const client of result.clients) {
        expect(client.ids).toEqual(Array.from({ length: options.events + 1 }, (_, i) => i + 1));
      }
    });
  });
});
