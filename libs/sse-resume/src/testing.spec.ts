import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
import * as testingEntry from './testing';

/** What a runner saw registered: suites with their hooks and cases. */
interface RecordedSuite {
  name: string;
  beforeEach: Array<() => Promise<void>>;
  afterEach: Array<() => Promise<void>>;
  cases: Array<{ name: string; body: () => Promise<void> }>;
  suites: RecordedSuite[];
}

/** A minimal test runner: only what the contract suite may call, recorded, then run in order. */
function recordingRunner() {
  const root: RecordedSuite = { name: '', beforeEach: [], afterEach: [], cases: [], suites: [] };
  let current = root;
  const calls: string[] = [];
  const runner = {
    describe(name: string, body: () => void): void {
      calls.push('describe');
      const suite: RecordedSuite = { name, beforeEach: [], afterEach: [], cases: [], suites: [] };
      current.suites.push(suite);
      const parent = current;
      current = suite;
      body();
      current = parent;
    },
    it(name: string, body: () => Promise<void>): void {
      calls.push('it');
      current.cases.push({ name, body });
    },
    beforeEach(hook: () => Promise<void>): void {
      calls.push('beforeEach');
      current.beforeEach.push(hook);
    },
    afterEach(hook: () => Promise<void>): void {
      calls.push('afterEach');
      current.afterEach.push(hook);
    },
  };

  async function run(suite: RecordedSuite = root, outer: RecordedSuite[] = []): Promise<string[]> {
    const chain = [...outer, suite];
    const results: string[] = [];
    for (const testCase of suite.cases) {
      const name = [...chain.map((s) => s.name).filter(Boolean), testCase.name].join(' > ');
      try {
        for (const s of chain) for (const hook of s.beforeEach) await hook();
        try {
          await testCase.body();
        } finally {
          for (const s of [...chain].reverse()) for (const hook of s.afterEach) await hook();
        }
        results.push(`ok ${name}`);
      } catch (error) {
        results.push(`FAILED ${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    for (const child of suite.suites) results.push(...(await run(child, chain)));
    return results;
  }

  return { runner, root, calls, run };
}

describe('nest-sse-resume/testing entry point', () => {
  it('exports the store contract suite and nothing else at run time', () => {
    expect(Object.keys(testingEntry)).toEqual(['describeTaskStoreContract']);
  });

  it('takes the functions of Jest and node:test as they are typed', () => {
    const fits = (
      jest: typeof import('@jest/globals'),
      nodeTest: typeof import('node:test'),
    ): testingEntry.TestRunnerFunctions[] => [jest, nodeTest];
    expect(typeof fits).toBe('function');
  });

  it('registers its cases only through the describe/it/hooks it is given, and they pass', async () => {
    const { runner, root, calls, run } = recordingRunner();
    testingEntry.describeTaskStoreContract('InMemoryTaskStore', {
      makeStore: (limits) => new InMemoryTaskStore(limits),
      ...runner,
    });
    expect(calls.filter((call) => call === 'describe').length).toBe(2);
    expect(root.suites.map((suite) => suite.cases.length).every((n) => n > 0)).toBe(true);
    const results = await run();
    expect(results.filter((line) => !line.startsWith('ok '))).toEqual([]);
    expect(results.length).toBe(calls.filter((call) => call === 'it').length);
  }, 30_000);

  it('runs under node:test in a plain Node process (no Jest)', async () => {
    const root = join(__dirname, '..', '..', '..');
    const script = `
      const { afterEach, beforeEach, describe, it } = require('node:test');
      const { describeTaskStoreContract } = require(${JSON.stringify(join(__dirname, 'testing.ts'))});
      const { InMemoryTaskStore } = require(${JSON.stringify(
        join(__dirname, 'stores', 'in-memory', 'in-memory-task-store.ts'),
      )});
      describeTaskStoreContract('InMemoryTaskStore', {
        makeStore: (limits) => new InMemoryTaskStore(limits), describe, it, beforeEach, afterEach,
      });`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', join(root, 'scripts', 'register-ts.js'), '--test-reporter=tap', '-e', script],
      { cwd: root, timeout: 60_000 },
    );
    expect(stdout).toMatch(/# fail 0/);
    expect(stdout).toMatch(/# pass [1-9]/);
  }, 60_000);
});
