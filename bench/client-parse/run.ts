/**
 * `npm run bench:client`: parse-and-dispatch throughput of the client (`SseResumeClient`)
 * against `eventsource` and `@microsoft/fetch-event-source` on the same recorded streams,
 * fed in-process through a fake `fetch`; plus the client's bundle sizes. Issue 11's targets:
 * at least 2x the faster peer, core entry under 4 KB min+gzip.
 *
 * node --expose-gc bench/dist/bench/client-parse/run.js [--rounds N] [--warmup N] [--quick]
 *   [--shapes progress,large,multiline] [--only NAME,…] [--out FILE.md]
 *   [--compare-rev GIT_REV | --compare-src DIR [--compare-label NAME]]
 * `--compare-*` adds the client and parser of another copy of libs/sse-resume-client/src (a
 * commit, or a directory) to the same run: before/after in one process, interleaved.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type Contender,
  eventsourcePackage,
  fetchEventSourcePackage,
  jsonFloor,
  loadClient,
  ourClient,
  ourParser,
} from './contenders';
import { type Chunking, chunkingName, CHUNKINGS, record, type Recording, SHAPES, split } from './recording';

const ROOT = resolve(__dirname, '../../../..'); // bench/dist/bench/client-parse → repo
const OUT_DIR = resolve(__dirname, '..', '..', 'client-parse'); // bench/dist/client-parse
const TARGET_RATIO = 2;
const TARGET_GZIP = 4096;

interface Options {
  rounds: number;
  warmup: number;
  scale: number;
  shapes: Set<string> | undefined;
  only: string[] | undefined;
  compareSrc: string | undefined;
  compareLabel: string;
  out: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  return {
    rounds: Number(value('--rounds') ?? (quick ? 3 : 7)),
    warmup: Number(value('--warmup') ?? (quick ? 1 : 2)),
    scale: quick ? 0.25 : 1,
    shapes: value('--shapes') ? new Set(value('--shapes')!.split(',')) : undefined,
    only: value('--only')?.split(','),
    compareSrc: value('--compare-rev') ? sourceAt(value('--compare-rev')!) : value('--compare-src'),
    compareLabel: value('--compare-label') ?? value('--compare-rev') ?? 'compared',
    out: value('--out'),
  };
}

/** The client's sources at a git revision, extracted to a temporary directory. */
function sourceAt(rev: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'client-src-'));
  const tar = execFileSync('git', ['archive', rev, 'libs/sse-resume-client/src'], {
    cwd: ROOT,
    maxBuffer: 64 << 20,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  return join(dir, 'libs', 'sse-resume-client', 'src');
}

const gc = (globalThis as { gc?: () => void }).gc;

interface Measured {
  contender: string;
  peer: boolean;
  /** Wall milliseconds per run, one per round. */
  times: number[];
  /** CPU milliseconds of the process (user + system) per run. */
  cpuTimes: number[];
  /** CPU milliseconds of the main thread alone per run (Linux), without GC helper and compiler threads. */
  mainTimes: number[];
  /** From the median wall time. */
  eventsPerSec: number;
  /** From the median CPU time: steadier than wall time when other jobs share the machine. */
  cpuEventsPerSec: number;
  /** From the median main-thread CPU time (NaN where /proc is not available). */
  mainEventsPerSec: number;
  mbPerSec: number;
  /** (slowest − fastest) ÷ median time. */
  spread: number;
}

interface CaseResult {
  recording: Recording;
  chunking: Chunking;
  chunks: number;
  measured: Measured[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Nanoseconds the main thread has run on a CPU (Linux: /proc/<pid>/task/<pid>/schedstat), NaN
 * elsewhere. Process CPU time also counts V8's helper threads (parallel GC, concurrent
 * compilation), which the main thread does not wait for when there is a free core.
 */
function mainThreadNs(): number {
  try {
    return Number(readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

async function timed(
  contender: Contender,
  recording: Recording,
  chunks: readonly Uint8Array[],
): Promise<{ ms: number; cpuMs: number; mainMs: number }> {
  gc?.();
  const cpu = process.cpuUsage();
  const main = mainThreadNs();
  const start = performance.now();
  const delivered = await contender.run(recording, chunks);
  const ms = performance.now() - start;
  const mainMs = (mainThreadNs() - main) / 1e6;
  const used = process.cpuUsage(cpu);
  if (delivered !== recording.events + 1) throw new Error(`${contender.name}: delivered ${delivered}`);
  return { ms, cpuMs: (used.user + used.system) / 1000, mainMs };
}

/** Warm-up rounds, then measured rounds; the order of the contenders rotates every round. */
async function runCase(
  contenders: readonly Contender[],
  recording: Recording,
  chunking: Chunking,
  options: Options,
): Promise<CaseResult> {
  const chunks = split(recording.bytes, chunking);
  const times = new Map<string, { ms: number; cpuMs: number; mainMs: number }[]>(
    contenders.map((c) => [c.name, []]),
  );
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(round + k) % contenders.length]!;
      const time = await timed(contender, recording, chunks);
      if (round >= options.warmup) times.get(contender.name)!.push(time);
    }
  }
  const measured = contenders.map((contender): Measured => {
    const list = times.get(contender.name)!.map((t) => t.ms);
    const cpuTimes = times.get(contender.name)!.map((t) => t.cpuMs);
    const mainTimes = times.get(contender.name)!.map((t) => t.mainMs);
    const ms = median(list);
    return {
      contender: contender.name,
      peer: contender.peer,
      times: list,
      cpuTimes,
      mainTimes,
      eventsPerSec: ((recording.events + 1) * 1000) / ms,
      cpuEventsPerSec: ((recording.events + 1) * 1000) / median(cpuTimes),
      mainEventsPerSec: ((recording.events + 1) * 1000) / median(mainTimes),
      mbPerSec: recording.bytes.length / 1e3 / ms,
      spread: (Math.max(...list) - Math.min(...list)) / ms,
    };
  });
  return { recording, chunking, chunks: chunks.length, measured };
}

const fmt = (value: number, digits = 0): string =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';

function fasterPeer(
  result: CaseResult,
  by: 'eventsPerSec' | 'cpuEventsPerSec' | 'mainEventsPerSec' = 'eventsPerSec',
): Measured | undefined {
  return result.measured.filter((m) => m.peer).sort((a, b) => b[by] - a[by])[0];
}

function caseTable(result: CaseResult): string {
  const best = fasterPeer(result);
  const bestCpu = fasterPeer(result, 'cpuEventsPerSec');
  const bestMain = fasterPeer(result, 'mainEventsPerSec');
  const lines = [
    '| contender | events/s | MB/s | ms / run | spread | vs faster peer | CPU ms / run | vs faster peer (CPU) | main-thread CPU ms | vs faster peer (main thread) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const m of result.measured) {
    lines.push(
      `| ${m.contender} | ${fmt(m.eventsPerSec)} | ${fmt(m.mbPerSec, 1)} | ${fmt(median(m.times), 1)} | ±${fmt((m.spread * 100) / 2)}% | ${best ? `${fmt(m.eventsPerSec / best.eventsPerSec, 2)}x` : '—'} | ${fmt(median(m.cpuTimes), 1)} | ${bestCpu ? `${fmt(m.cpuEventsPerSec / bestCpu.cpuEventsPerSec, 2)}x` : '—'} | ${fmt(median(m.mainTimes), 1)} | ${bestMain ? `${fmt(m.mainEventsPerSec / bestMain.mainEventsPerSec, 2)}x` : '—'} |`,
    );
  }
  return lines.join('\n');
}

interface SizeRow {
  min: number;
  gzip: number;
}

function bundleSizes(): Record<string, SizeRow> {
  const load = createRequire(__filename);
  const { sizes } = load(join(ROOT, 'scripts', 'build-client.js')) as { sizes(): Record<string, SizeRow> };
  return sizes();
}

function machine(): string {
  const cpu = cpus();
  return `${cpu.length} x ${cpu[0]?.model ?? 'unknown'}, Linux ${release()}, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')}`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = performance.now();
  mkdirSync(OUT_DIR, { recursive: true });
  const current = loadClient(
    join(ROOT, 'libs', 'sse-resume-client', 'src'),
    join(OUT_DIR, 'client.bundle.js'),
  );
  let contenders: Contender[] = [
    ourClient(current),
    ourParser(current),
    jsonFloor(),
    eventsourcePackage(),
    fetchEventSourcePackage(),
  ];
  if (options.compareSrc) {
    const other = loadClient(resolve(options.compareSrc), join(OUT_DIR, 'client-compare.bundle.js'));
    const label = options.compareLabel;
    contenders.splice(1, 0, ourClient(other, `SseResumeClient (${label})`));
    contenders.splice(3, 0, ourParser(other, `SseParser (${label})`));
  }
  if (options.only) {
    const only = options.only;
    contenders = contenders.filter((c) => only.some((name) => c.name.startsWith(name)));
  }
  if (!gc) process.stdout.write('(run node with --expose-gc to collect garbage before each run)\n');

  const header =
    `## Client: parse + dispatch of one recorded stream (${new Date().toISOString()})\n\n` +
    `${machine()}; ${options.warmup} warm-up + ${options.rounds} measured rounds per case, contenders interleaved.\n`;
  process.stdout.write(`${header}\n`);

  const results: CaseResult[] = [];
  for (const { shape, events } of SHAPES) {
    if (options.shapes && !options.shapes.has(shape)) continue;
    const recording = record(shape, Math.round(events * options.scale));
    for (const chunking of CHUNKINGS) {
      const result = await runCase(contenders, recording, chunking, options);
      results.push(result);
      const best = fasterPeer(result);
      process.stdout.write(
        `[${fmt((performance.now() - started) / 1000)} s] ${shape}, ${chunkingName(chunking)}: ${result.measured
          .map(
            (m) =>
              `${m.contender} ${fmt(m.eventsPerSec)}/s${best && !m.peer ? ` (${fmt(m.eventsPerSec / best.eventsPerSec, 2)}x)` : ''}`,
          )
          .join(', ')}\n`,
      );
    }
  }

  const sections: string[] = [header];
  for (const result of results) {
    const { recording, chunking } = result;
    sections.push(
      `### ${recording.title}; ${chunkingName(chunking)}\n\n` +
        `${fmt(recording.bytes.length / 1e6, 2)} MB in ${fmt(result.chunks)} chunks\n\n${caseTable(result)}\n`,
    );
  }

  const verdicts: string[] = [];
  const ratios: number[] = [];
  const client = contenders.find((c) => c.name === 'SseResumeClient');
  if (client) {
    const rows = [
      '| stream | chunks | SseResumeClient events/s | faster peer | its events/s | ratio | ≥ 2x | ratio by CPU time | by main-thread CPU | ratio of the time beyond JSON.parse | ceiling (faster peer ÷ JSON.parse floor) |',
      '|---|---|--:|---|--:|--:|---|--:|--:|--:|--:|',
    ];
    for (const result of results) {
      const ours = result.measured.find((m) => m.contender === client.name)!;
      const best = fasterPeer(result);
      if (!best) continue;
      const ratio = ours.eventsPerSec / best.eventsPerSec;
      const cpuRatio = ours.cpuEventsPerSec / fasterPeer(result, 'cpuEventsPerSec')!.cpuEventsPerSec;
      const mainRatio = ours.mainEventsPerSec / fasterPeer(result, 'mainEventsPerSec')!.mainEventsPerSec;
      const floor = result.measured.find((m) => m.contender.startsWith('JSON.parse'));
      const floorMs = floor ? median(floor.times) : NaN;
      const beyond = (median(best.times) - floorMs) / (median(ours.times) - floorMs);
      const ceiling = median(best.times) / floorMs;
      ratios.push(ratio);
      rows.push(
        `| ${result.recording.shape} | ${chunkingName(result.chunking)} | ${fmt(ours.eventsPerSec)} | ${best.contender} | ${fmt(best.eventsPerSec)} | ${fmt(ratio, 2)}x | ${ratio >= TARGET_RATIO ? 'PASS' : '**FAIL**'} | ${fmt(cpuRatio, 2)}x | ${fmt(mainRatio, 2)}x | ${fmt(beyond, 2)}x | ${fmt(ceiling, 2)}x |`,
      );
    }
    if (ratios.length > 0) {
      const geomean = Math.exp(ratios.reduce((sum, r) => sum + Math.log(r), 0) / ratios.length);
      const worst = Math.min(...ratios);
      verdicts.push(
        `- throughput, SseResumeClient ≥ ${TARGET_RATIO}x the faster peer in every case: worst ${fmt(worst, 2)}x, geometric mean ${fmt(geomean, 2)}x → ${worst >= TARGET_RATIO ? 'PASS' : '**FAIL**'}`,
      );
      sections.push(`### Throughput target\n\n${rows.join('\n')}\n`);
    }
  }

  const sizes = bundleSizes();
  const sizeRows = [
    '| bundle (esbuild, ES2022, minified) | min (B) | min+gzip (B) | < 4096 B |',
    '|---|--:|--:|---|',
  ];
  for (const [name, { min, gzip }] of Object.entries(sizes)) {
    sizeRows.push(`| ${name} | ${fmt(min)} | ${fmt(gzip)} | ${gzip < TARGET_GZIP ? 'PASS' : '**FAIL**'} |`);
  }
  sections.push(`### Bundle sizes\n\n${sizeRows.join('\n')}\n`);
  const core = Object.entries(sizes).find(([name]) => name.startsWith('core entry'))?.[1];
  if (core) {
    verdicts.push(
      `- size, core entry min+gzip < ${TARGET_GZIP} B: ${fmt(core.gzip)} B (${fmt(core.min)} B min) → ${core.gzip < TARGET_GZIP ? 'PASS' : '**FAIL**'}`,
    );
  }
  sections.push(`Targets (issue 11):\n${verdicts.join('\n')}`);
  sections.push(
    `Medians over ${options.rounds} rounds; spread = ±half the (slowest − fastest) range, as % of the median. ` +
      `events/s counts progress events + end; MB/s = body bytes ÷ time. Total ${fmt((performance.now() - started) / 1000)} s.`,
  );
  const markdown = sections.join('\n\n') + '\n';
  process.stdout.write(`\n${markdown}`);
  if (options.out) writeFileSync(options.out, markdown);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
