#!/usr/bin/env node
/**
 * Releases both packages together, at one version:
 *
 *   node scripts/release.js <patch|minor|major|X.Y.Z[-pre.N]> [--apply] [--date YYYY-MM-DD]
 *
 * 1. reads the versions of libs/sse-resume and libs/sse-resume-client (they must be equal) and
 *    computes the next one (or takes the current one as given, if it was never released: the
 *    first release is `node scripts/release.js 0.1.0 --apply`);
 * 2. in each package's CHANGELOG.md, moves what is under `## Unreleased` under
 *    `## X.Y.Z - YYYY-MM-DD` (today, UTC) and leaves an empty `## Unreleased` above it; a
 *    package with nothing unreleased gets a line saying it follows the other one; nothing
 *    unreleased in either is an error;
 * 3. with `--apply` only (the default is a dry run that writes nothing): writes both
 *    package.json versions and changelogs, commits them ("release vX.Y.Z") and tags the commit
 *    `vX.Y.Z` (annotated). It refuses if tracked files have uncommitted changes or the tag exists.
 *
 * Publishing stays a separate, deliberate step (it prints the commands). `--root DIR` runs it
 * on another checkout (the tests use a scratch repository).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const PACKAGES = ['libs/sse-resume', 'libs/sse-resume-client'];
const VERSION = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/;

class ReleaseError extends Error {}

function parseArgs(argv) {
  const args = { bump: undefined, apply: false, date: new Date().toISOString().slice(0, 10), root: path.resolve(__dirname, '..') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--apply') args.apply = true;
    else if (arg === '--date') args.date = argv[++i];
    else if (arg === '--root') args.root = path.resolve(argv[++i] ?? '');
    else if (!arg.startsWith('--') && args.bump === undefined) args.bump = arg;
    else throw new ReleaseError(`unknown argument ${arg}`);
  }
  if (!args.bump) throw new ReleaseError('usage: node scripts/release.js <patch|minor|major|X.Y.Z> [--apply] [--date YYYY-MM-DD]');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(args.date ?? '')) throw new ReleaseError(`--date must be YYYY-MM-DD, got ${args.date}`);
  return args;
}

/** Negative, zero or positive like a comparator; a pre-release sorts before its release. */
function compareVersions(a, b) {
  const [, ...pa] = VERSION.exec(a);
  const [, ...pb] = VERSION.exec(b);
  for (let i = 0; i < 3; i++) if (Number(pa[i]) !== Number(pb[i])) return Number(pa[i]) - Number(pb[i]);
  if (pa[3] === pb[3]) return 0;
  if (pa[3] === undefined) return 1;
  if (pb[3] === undefined) return -1;
  return pa[3].localeCompare(pb[3], 'en', { numeric: true });
}

function nextVersion(current, bump) {
  const match = VERSION.exec(current);
  if (!match) throw new ReleaseError(`current version ${current} is not X.Y.Z`);
  const [major, minor, patch] = match.slice(1, 4).map(Number);
  const pre = match[4] !== undefined;
  let next;
  if (bump === 'major') next = `${major + 1}.0.0`;
  else if (bump === 'minor') next = `${major}.${minor + 1}.0`;
  else if (bump === 'patch') next = pre ? `${major}.${minor}.${patch}` : `${major}.${minor}.${patch + 1}`;
  else if (VERSION.test(bump)) next = bump;
  else throw new ReleaseError(`not a version or patch|minor|major: ${bump}`);
  if (compareVersions(next, current) < 0) throw new ReleaseError(`${next} is before the current ${current}`);
  return next;
}

/** Splits a changelog around its `## Unreleased` section. */
function splitChangelog(text, file) {
  const start = /^## Unreleased[ \t]*$/m.exec(text);
  if (!start) throw new ReleaseError(`${file}: no "## Unreleased" section`);
  const bodyStart = start.index + start[0].length;
  const next = /^## /m.exec(text.slice(bodyStart));
  const bodyEnd = next ? bodyStart + next.index : text.length;
  return { head: text.slice(0, start.index), body: text.slice(bodyStart, bodyEnd).trim(), tail: text.slice(bodyEnd) };
}

function git(root, args) {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Computes the release; writes, commits and tags only with `apply`. Returns the plan. */
function release({ bump, apply = false, date, root }) {
  const packages = PACKAGES.map((dir) => {
    const manifestPath = path.join(root, dir, 'package.json');
    const changelogPath = path.join(root, dir, 'CHANGELOG.md');
    const manifestText = fs.readFileSync(manifestPath, 'utf8');
    const { name, version } = JSON.parse(manifestText);
    const changelogText = fs.readFileSync(changelogPath, 'utf8');
    return { dir, name, version, manifestPath, manifestText, changelogPath, changelogText, ...splitChangelog(changelogText, path.join(dir, 'CHANGELOG.md')) };
  });
  const versions = [...new Set(packages.map((p) => p.version))];
  if (versions.length !== 1) {
    throw new ReleaseError(`the packages have different versions (${packages.map((p) => `${p.name} ${p.version}`).join(', ')}); they are released together`);
  }
  const version = nextVersion(versions[0], bump);
  const tag = `v${version}`;
  // The current version itself may be released once (the first release): not tagged, no section.
  const released = (v) => git(root, ['tag', '--list', `v${v}`]) !== '' || packages.some((p) => p.changelogText.includes(`\n## ${v} `));
  if (version === versions[0] && released(version)) throw new ReleaseError(`${version} is released already: pick a later version`);
  if (packages.every((p) => p.body === '')) throw new ReleaseError('nothing to release: every "## Unreleased" section is empty');
  if (git(root, ['tag', '--list', tag]) !== '') throw new ReleaseError(`tag ${tag} exists already`);

  for (const p of packages) {
    const others = packages.filter((o) => o !== p && o.body !== '').map((o) => o.name);
    p.notes = p.body || `- No changes of its own; released with ${others.join(', ')} to keep the versions in step.`;
    p.newChangelog = `${p.head}## Unreleased\n\n## ${version} - ${date}\n\n${p.notes}\n${p.tail ? `\n${p.tail}` : ''}`;
    p.newManifest = p.manifestText.replace(/("version"\s*:\s*")[^"]*(")/, `$1${version}$2`);
  }
  if (apply) {
    if (git(root, ['status', '--porcelain', '--untracked-files=no']) !== '') {
      throw new ReleaseError('tracked files have uncommitted changes: commit or stash them first');
    }
    for (const p of packages) {
      fs.writeFileSync(p.manifestPath, p.newManifest);
      fs.writeFileSync(p.changelogPath, p.newChangelog);
    }
    git(root, ['add', '--', ...packages.flatMap((p) => [p.manifestPath, p.changelogPath])]);
    git(root, ['commit', '--quiet', '-m', `release ${tag}`, '-m', packages.map((p) => `${p.name} ${version}`).join('\n')]);
    git(root, ['tag', '-a', tag, '-m', tag]);
  }
  return { from: versions[0], version, tag, date, applied: apply, packages: packages.map(({ dir, name, notes }) => ({ dir, name, notes })) };
}

module.exports = { release, nextVersion, compareVersions, ReleaseError };

if (require.main === module) {
  try {
    const plan = release(parseArgs(process.argv.slice(2)));
    console.log(`${plan.applied ? 'released' : 'would release'} ${plan.from} -> ${plan.version} (tag ${plan.tag}, ${plan.date})`);
    for (const p of plan.packages) console.log(`\n${p.name} (${p.dir}/CHANGELOG.md):\n## ${plan.version} - ${plan.date}\n\n${p.notes}`);
    if (plan.applied) {
      console.log(`\ncommitted and tagged ${plan.tag}. To publish:`);
      console.log('  npm run build:lib && npm run build:client');
      for (const dir of PACKAGES) console.log(`  (cd ${dir} && npm publish)`);
      console.log(`  git push --follow-tags`);
    } else {
      console.log('\ndry run: nothing written. Run again with --apply to write, commit and tag.');
    }
  } catch (err) {
    console.error(err instanceof ReleaseError ? `release: ${err.message}` : err);
    process.exit(1);
  }
}
