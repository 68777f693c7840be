const shared = require('./jest.shared');

/** Unit tests: a *.spec.ts beside each library and app file. */
module.exports = {
  ...shared,
  rootDir: '.',
  roots: ['<rootDir>/libs', '<rootDir>/src'],
  testRegex: '.*\\.spec\\.ts$',
  collectCoverageFrom: ['libs/sse-resume/src/**/*.ts', '!**/*.spec.ts', '!**/index.ts'],
};
