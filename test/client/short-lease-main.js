// The built example app (dist/src/main.js) with the Redis lease set by TEST_REDIS_LEASE_MS,
// which the app's configuration does not expose: a test that kills an owner instance then
// waits about one lease (instead of the default 10 s) for another instance to fail its task.
// Run by startChildApp({ ... }, { script: 'test/client/short-lease-main.js' }).
'use strict';
const { SseResumeModule } = require('../../dist/libs/sse-resume/src/index.js');

const leaseMs = Number(process.env.TEST_REDIS_LEASE_MS);
if (Number.isSafeInteger(leaseMs) && leaseMs > 0) {
  const forRoot = SseResumeModule.forRoot.bind(SseResumeModule);
  SseResumeModule.forRoot = (options) =>
    forRoot(
      typeof options === 'object' && options.redis ? { ...options, redis: { ...options.redis, leaseMs } } : options,
    );
}
require('../../dist/src/main.js');
