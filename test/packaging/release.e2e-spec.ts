import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/release.js');
const PACKAGES = ['libs/sse-resume', 'libs/sse-resume-client'];

/**
 * `scripts/release.js` on a scratch git repository holding copies of both packages'
 * package.json and CHANGELOG.md: a dry run writes nothing, `--apply` bumps both versions,
 * moves each `## Unreleased` section under the new version, commits and tags.
 */
describe('scripts/release.js', () => {
  let repo: string;

  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
  const release = (...args: string[]) => {
    const result = spawnSync(process.execPath, [SCRIPT, ...args, '--root', repo, '--date', '2026-12-01'], {
      encoding: 'utf8',
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const read = (file: string) => readFileSync(join(repo, file), 'utf8');
  const version = (dir: string) => (JSON.parse(read(`${dir}/package.json`)) as { version: string }).version;
  const changelog = (unreleased: string, released = '') =>
    `# Changelog\n\nIntro.\n\n## Unreleased\n${unreleased ? `\n${unreleased}\n` : ''}${released ? `\n${released}` : ''}`;

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), 'sse-release-'));
    for (const dir of PACKAGES) {
      mkdirSync(join(repo, dir), { recursive: true });
      cpSync(join(ROOT, dir, 'package.json'), join(repo, dir, 'package.json'));
      writeFileSync(join(repo, dir, 'CHANGELOG.md'), changelog(`- Something in ${dir}.`));
    }
    git('init', '--quiet');
    git('config', 'user.email', 'release-test@example.invalid');
    git('config', 'user.name', 'release test');
    git('add', '.');
    git('commit', '--quiet', '-m', 'start');
  });
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  it('the repository itself: both packages at one version, each CHANGELOG with an Unreleased section', () => {
    const versions = PACKAGES.map(
      (dir) =>
        (JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { version: string }).version,
    );
    expect(new Set(versions).size).toBe(1);
    for (const dir of PACKAGES)
      expect(readFileSync(join(ROOT, dir, 'CHANGELOG.md'), 'utf8')).toMatch(/^## Unreleased$/m);
  });

  it('dry run by default: prints the plan, writes nothing', () => {
    const before = git('rev-parse', 'HEAD');
    const current = version(PACKAGES[0]!);
    const result = release('minor');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('would release');
    expect(result.stdout).toContain('dry run: nothing written');
    expect(git('status', '--porcelain')).toBe('');
    expect(git('rev-parse', 'HEAD')).toBe(before);
    expect(git('tag', '--list')).toBe('');
    expect(version(PACKAGES[0]!)).toBe(current);
  });

  it('--apply: both versions bumped, Unreleased moved under the version with the date, one commit, tag vX.Y.Z', () => {
    const [major, minor] = version(PACKAGES[0]!).split('.').map(Number);
    const next = `${major}.${minor! + 1}.0`;
    const result = release('minor', '--apply');
    expect(result).toMatchObject({ status: 0, stderr: '' });
    for (const dir of PACKAGES) {
      expect(version(dir)).toBe(next);
      expect(read(`${dir}/CHANGELOG.md`)).toBe(
        `# Changelog\n\nIntro.\n\n## Unreleased\n\n## ${next} - 2026-12-01\n\n- Something in ${dir}.\n`,
      );
    }
    expect(git('status', '--porcelain')).toBe('');
    expect(git('log', '-1', '--format=%s')).toBe(`release v${next}`);
    expect(git('tag', '--list')).toBe(`v${next}`);
    expect(git('rev-parse', `v${next}^{commit}`)).toBe(git('rev-parse', 'HEAD'));

    // The next release: only the client changed; the library follows it, older sections stay.
    writeFileSync(
      join(repo, PACKAGES[1]!, 'CHANGELOG.md'),
      read(`${PACKAGES[1]}/CHANGELOG.md`).replace('## Unreleased\n', '## Unreleased\n\n- A client fix.\n'),
    );
    git('commit', '--quiet', '-am', 'a client fix');
    expect(release('patch', '--apply').status).toBe(0);
    const patch = `${major}.${minor! + 1}.1`;
    expect(read(`${PACKAGES[1]}/CHANGELOG.md`)).toContain(
      `## Unreleased\n\n## ${patch} - 2026-12-01\n\n- A client fix.\n\n## ${next} - 2026-12-01\n\n- Something in ${PACKAGES[1]}.\n`,
    );
    expect(read(`${PACKAGES[0]}/CHANGELOG.md`)).toContain(
      `## ${patch} - 2026-12-01\n\n- No changes of its own; released with nest-sse-resume-client to keep the versions in step.\n\n## ${next}`,
    );
    expect(git('tag', '--list').split('\n')).toEqual([`v${next}`, `v${patch}`]);
  });

  it('the first release may be the current version, once', () => {
    const current = version(PACKAGES[0]!);
    expect(release(current, '--apply').status).toBe(0);
    expect(git('tag', '--list')).toBe(`v${current}`);
    expect(read(`${PACKAGES[0]}/CHANGELOG.md`)).toContain(`## ${current} - 2026-12-01`);
    const again = release(current);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('released already');
  });

  it.each([
    [
      'nothing unreleased',
      () => PACKAGES.forEach((dir) => writeFileSync(join(repo, dir, 'CHANGELOG.md'), changelog(''))),
      ['patch'],
      'nothing to release',
    ],
    [
      'different versions',
      () =>
        writeFileSync(
          join(repo, PACKAGES[1]!, 'package.json'),
          '{ "name": "nest-sse-resume-client", "version": "9.9.9" }\n',
        ),
      ['patch'],
      'different versions',
    ],
    ['an earlier version', () => undefined, ['0.0.1'], 'before the current'],
    ['not a version', () => undefined, ['next'], 'not a version'],
    ['a tag that exists', () => git('tag', 'v99.0.0'), ['99.0.0'], 'exists already'],
  ])('refuses: %s', (_name, arrange, args, message) => {
    arrange();
    git('add', '.');
    git('commit', '--quiet', '--allow-empty', '-m', 'arrange');
    const result = release(...args, '--apply');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(git('status', '--porcelain')).toBe('');
  });

  it('refuses to apply over uncommitted changes to tracked files', () => {
    writeFileSync(
      join(repo, PACKAGES[0]!, 'CHANGELOG.md'),
      `${read(`${PACKAGES[0]}/CHANGELOG.md`)}\nedited\n`,
    );
    const result = release('patch', '--apply');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('uncommitted changes');
    expect(git('tag', '--list')).toBe('');
  });
});
