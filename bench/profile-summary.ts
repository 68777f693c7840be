/**
 * Summarizes `.cpuprofile` files written by `run.js --cpu-prof <contender>`:
 * time by package, top functions by self time, and the library's functions by total time.
 *
 * node bench/dist/bench/profile-summary.js <dir or file> [--top N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const LIB_MARK = '/libs/sse-resume/src/';

function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  if (url.includes(LIB_MARK)) return 'library';
  if (url.includes('/bench/')) return 'bench server';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal.*/, 'node internals');
  return url;
}

function short(frame: CallFrame): string {
  const file = frame.url.includes(LIB_MARK)
    ? frame.url.slice(frame.url.indexOf(LIB_MARK) + LIB_MARK.length)
    : frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/bench\//, 'bench/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

function summarize(path: string, top: number): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

  const selfByFn = new Map<string, number>();
  const selfByArea = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    selfByFn.set(short(frame), (selfByFn.get(short(frame)) ?? 0) + us);
    const a = area(frame.url, frame.functionName);
    selfByArea.set(a, (selfByArea.get(a) ?? 0) + us);
  }

  // Total (inclusive) time per library function, counted once per stack.
  const totalByFn = new Map<string, number>();
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!frame.url.includes(LIB_MARK)) continue;
      const key = short(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      totalByFn.set(key, (totalByFn.get(key) ?? 0) + us);
    }
  }

  const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  const list = (title: string, map: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n))
      console.log(`${ms(us)} ${pct(us)}  ${key}`);
  };
  console.log(`\n=== ${path} (${(totalUs / 1000).toFixed(0)} ms sampled)`);
  list('self time by area', selfByArea, 15);
  list('top functions by self time', selfByFn, top);
  list('library functions by total time', totalByFn, top);
}

const args = process.argv.slice(2);
const target = args[0];
if (!target) {
  console.error('usage: profile-summary <dir or .cpuprofile> [--top N]');
  process.exit(2);
}
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];
for (const file of files) summarize(file, top);
