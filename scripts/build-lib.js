#!/usr/bin/env node
// `npm run build:lib`: builds the publishable library (libs/sse-resume) as ES modules.
// - dist/**/*.js + .d.ts, compiled with TypeScript's API from tsconfig.lib.json (ES2022 modules,
//   bundler resolution, so the sources keep their extension-less relative imports), with every
//   relative specifier rewritten to what Node's ESM loader needs: `./x` → `./x.js`,
//   `./dir` → `./dir/index.js`. No source maps: the output is tsc's readable ES2022, line for
//   line the sources with their comments, and the sources are not shipped.
// - dist/package.json `{ "type": "module" }`: dist is ESM for Node and for TypeScript, while the
//   sources stay in the workspace's CommonJS scope (the example app and Jest compile them to CJS).
// - README.md: the root README minus its repo-only sections, relative links made absolute
//   (generated, not committed; LICENSE and CHANGELOG.md are committed).
// Fails if a relative specifier of the output does not resolve to an emitted file.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const packageDir = path.join(root, 'libs', 'sse-resume');
const srcDir = path.join(packageDir, 'src');
const dist = path.join(packageDir, 'dist');

/** README sections (`## ` headings) that are about this repository, not about the package. */
const REPO_ONLY_SECTIONS = ['Two commands', 'The example app', 'Development', 'Packages and releases'];

/** `./x` → `./x.js`, `./dir` → `./dir/index.js` for a file emitted from `sourceFile`. */
function withExtension(specifier, sourceFile) {
  if (!/^\.{1,2}(\/|$)/.test(specifier) || /\.(c|m)?js$/.test(specifier)) return specifier;
  const base = path.resolve(path.dirname(sourceFile), specifier);
  if (fs.existsSync(`${base}.ts`)) return `${specifier}.js`;
  if (fs.existsSync(path.join(base, 'index.ts'))) return `${specifier.replace(/\/$/, '')}/index.js`;
  throw new Error(`${path.relative(root, sourceFile)}: cannot resolve ${specifier}`);
}

/** Rewrites import/export/import() specifiers (and `import("…")` types in .d.ts). */
function rewriteSpecifiers(context, sourceFile) {
  const { factory } = context;
  const literal = (node) => factory.createStringLiteral(withExtension(node.text, sourceFile));
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      return factory.updateImportDeclaration(node, node.modifiers, node.importClause, literal(node.moduleSpecifier), node.attributes);
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      return factory.updateExportDeclaration(
        node,
        node.modifiers,
        node.isTypeOnly,
        node.exportClause,
        literal(node.moduleSpecifier),
        node.attributes,
      );
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [first, ...rest] = node.arguments;
      if (first && ts.isStringLiteral(first)) {
        return factory.updateCallExpression(node, node.expression, node.typeArguments, [literal(first), ...rest]);
      }
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      return factory.updateImportTypeNode(
        node,
        factory.updateLiteralTypeNode(node.argument, literal(node.argument.literal)),
        node.attributes,
        node.qualifier,
        ts.visitNodes(node.typeArguments, visit),
        node.isTypeOf,
      );
    }
    return ts.visitEachChild(node, visit, context);
  };
  return visit;
}

function specifierTransformer(context) {
  return (node) => {
    if (!ts.isSourceFile(node)) return node;
    // Declarations are emitted for the source file at the same path with .ts.
    const source = node.fileName.replace(/\.d\.ts$/, '.ts');
    return ts.visitNode(node, rewriteSpecifiers(context, source));
  };
}

function compile() {
  const configPath = path.join(packageDir, 'tsconfig.lib.json');
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const emitted = program.emit(undefined, undefined, undefined, false, {
    before: [specifierTransformer],
    afterDeclarations: [specifierTransformer],
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    throw new Error(ts.formatDiagnostics(diagnostics, host));
  }
}

function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else yield full;
  }
}

/** Every relative specifier in dist resolves to an emitted file (what Node and tsc will do). */
function checkOutput() {
  const problems = [];
  for (const file of files(dist)) {
    if (!/\.(js|d\.ts)$/.test(file)) continue;
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), fileName);
      const wanted = file.endsWith('.d.ts') ? target.replace(/\.js$/, '.d.ts') : target;
      if (!fileName.endsWith('.js') || !fs.existsSync(wanted)) {
        problems.push(`${path.relative(root, file)}: ${fileName}`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`unresolved specifiers in dist:\n  ${problems.join('\n  ')}`);
}

/** The root README for the package page: repo-only sections out, relative links absolute. */
function packageReadme() {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  const repo = String(pkg.repository?.url ?? '')
    .replace(/^git\+/, '')
    .replace(/\.git$/, '');
  if (!repo.startsWith('https://')) throw new Error('libs/sse-resume/package.json: repository.url');
  const sections = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split(/^(?=## )/m);
  const kept = sections.filter((section) => {
    const heading = /^## (.*)/.exec(section)?.[1]?.trim();
    return heading === undefined || !REPO_ONLY_SECTIONS.includes(heading);
  });
  const install = [
    '## Install',
    '',
    '```bash',
    'npm install nest-sse-resume @nestjs/schedule   # + ioredis for the Redis store',
    'npm install nest-sse-resume-client             # the client, in the front end (or in Node)',
    '```',
    '',
    `ES modules (as Nest 12), Node ${pkg.engines.node}; a CommonJS app \`require()\`s it like Nest itself.`,
    `Changes: [CHANGELOG.md](${repo}/blob/main/libs/sse-resume/CHANGELOG.md).`,
    '',
    '',
  ].join('\n');
  const [intro, ...rest] = kept;
  return [intro, install, ...rest]
    .join('')
    .replace(/\]\((?!https?:|mailto:|#)([^)\s]+)\)/g, (_, link) => `](${repo}/blob/main/${link.replace(/^\.\//, '')})`)
    .replace(/\n{3,}/g, '\n\n');
}

function build() {
  fs.rmSync(dist, { recursive: true, force: true });
  compile();
  fs.writeFileSync(path.join(dist, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
  checkOutput();
  fs.writeFileSync(path.join(packageDir, 'README.md'), packageReadme());
  return dist;
}

/** Newest mtime of what the build reads: the non-spec sources, its config, the root README. */
function newestInput() {
  let newest = 0;
  for (const file of files(srcDir)) {
    if (file.endsWith('.ts') && !file.endsWith('.spec.ts')) newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  for (const file of [
    path.join(packageDir, 'tsconfig.lib.json'),
    path.join(packageDir, 'package.json'),
    path.join(root, 'tsconfig.json'),
    path.join(root, 'README.md'),
    __filename,
  ]) {
    newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  return newest;
}

/** Builds when an output is missing or older than an input (the packaging test after `npm run build`). */
function buildIfStale() {
  const outputs = [path.join(dist, 'package.json'), path.join(packageDir, 'README.md')];
  const built = Math.min(...outputs.map((file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0)));
  if (built < newestInput()) build();
  return dist;
}

module.exports = { build, buildIfStale, packageReadme };

if (require.main === module) {
  try {
    build();
    console.log(`built ${path.relative(root, dist)}/ (ESM) and ${path.relative(root, packageDir)}/README.md`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
