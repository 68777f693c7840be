// Lets plain Node run the TypeScript scripts of this repo (`npm run stress`, `npm run soak`)
// straight from source: `node -r ./scripts/register-ts.js scripts/stress.ts`.
// Our .ts files are compiled with @swc/core on require (the settings of jest.shared.js:
// CommonJS, legacy decorators with metadata, as Nest needs), and `@app/sse-resume` maps to
// libs/sse-resume/src as in tsconfig.json. Packages load natively (Node >= 20.19 requires
// the ESM-only Nest 12 packages itself).
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '..');
const libraryRoot = path.join(root, 'libs', 'sse-resume', 'src');

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

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === '@app/sse-resume' || request.startsWith('@app/sse-resume/')) {
    request = libraryRoot + request.slice('@app/sse-resume'.length);
  } else if (/^\.{1,2}\//.test(request) && request.endsWith('.js') && parent?.filename?.endsWith('.ts')) {
    // `import('./x.js')` in our sources means ./x.ts (node16 resolution).
    const candidate = path.resolve(path.dirname(parent.filename), request.replace(/\.js$/, '.ts'));
    if (fs.existsSync(candidate)) request = candidate;
  }
  return resolveFilename.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, { ...swcOptions, filename });
  module._compile(code, filename);
};
