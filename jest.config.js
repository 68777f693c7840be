/** `npm test`: every unit and e2e test in one Jest run (one summary, one JSON report). */
module.exports = {
  projects: ['<rootDir>/jest.unit.config.js', '<rootDir>/test/jest-e2e.config.js'],
  // A global option: ignored inside the project configs. e2e tests stream in real time.
  testTimeout: 60_000,
  collectCoverageFrom: ['libs/sse-resume/src/**/*.ts', '!**/*.spec.ts', '!**/index.ts'],
};
