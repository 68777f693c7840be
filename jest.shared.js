// Shared Jest settings. Nest 12 packages are ESM-only; @swc/jest compiles them (and our
// TypeScript) to CommonJS so Jest runs on Node 20 without --experimental-vm-modules.
const swcOptions = {
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    keepClassNames: true,
  },
};

module.exports = {
  testEnvironment: 'node',
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', swcOptions] },
  // @fastify/static (Swagger UI's files on Fastify) needs its own ESM-only content-disposition.
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|file-type|load-esm|uid|iterare|@standard-schema|strtok3|token-types|@tokenizer|eventsource|eventsource-parser|@fastify/static|content-disposition)/)',
  ],
  moduleNameMapper: {
    '^@app/sse-resume(|/.*)$': '<rootDir>/libs/sse-resume/src$1',
    // Relative imports written with .js (dynamic import() in node16 resolution) map to the .ts source.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
};
