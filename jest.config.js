/** `npm test`: every unit and e2e test in one Jest run (one summary, one JSON report). */
module.exports = {
  projects: ['<rootDir>/jest.unit.config.js', '<rootDir>/test/jest-e2e.config.js'],
  // A global option: ignored inside the project configs. e2e tests stream in real time.
  testTimeout: 60_000,
  // BullMQ 6.7.6's Worker.close() never settles once its Redis crashed and came back (the
  // health and durable-shutdown specs do that in process): the library bounds its shutdown
  // and drops the connections, but BullMQ's own loop timers stay, so the run would not end.
  forceExit: true,
  collectCoverageFrom: ['libs/sse-resume/src/**/*.ts', '!**/*.spec.ts', '!**/index.ts'],
};
