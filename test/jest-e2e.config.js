const shared = require('../jest.shared.js');

/** e2e tests: real apps on listen(0), real HTTP clients, a real browser. */
module.exports = {
  ...shared,
  displayName: 'e2e',
  rootDir: '..',
  roots: ['<rootDir>/test'],
  testRegex: '.*\\.e2e-spec\\.ts$',
  testTimeout: 60_000,
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
};
