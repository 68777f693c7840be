const shared = require('./jest.shared');

/** Unit tests: a *.spec.ts beside each library and app file. */
module.exports = {
  ...shared,
  displayName: 'unit',
  rootDir: '.',
  roots: ['<rootDir>/libs', '<rootDir>/src'],
  testRegex: '.*\\.spec\\.ts$',
};
