import { of } from 'rxjs';
import type { SseTaskService } from '../sse-task.service';
import type { EmitOptions, ProgressData, TaskContext, TaskSource } from './task-context.interface';

/**
 * Type-level tests: `npm run typecheck` fails when a `@ts-expect-error` line compiles (the
 * typing got looser) or another line does not (it got stricter). The functions are never
 * called; Jest only checks that the file loads.
 */

/** One interface shared by a server and its client, as the README shows. */
interface ExportEvents {
  progress: { done: number; total: number };
  log: { line: string };
}

interface LogOnly {
  log: { line: string };
}

const progress = { done: 1, total: 2 };

async function typedTasks(tasks: SseTaskService): Promise<void> {
  await tasks.start<ExportEvents, { url: string }>(async ({ emit }) => {
    await emit(progress);
    await emit(progress, { event: 'progress' });
    await emit({ line: 'x' }, { event: 'log' });
    // @ts-expect-error a progress event takes ExportEvents['progress']
    await emit({ line: 'x' });
    // @ts-expect-error a log event takes ExportEvents['log']
    await emit(progress, { event: 'log' });
    // @ts-expect-error an event the map does not have
    await emit({ line: 'x' }, { event: 'other' });
    // @ts-expect-error a name that is not a literal of the map
    await emit({ line: 'x' }, { event: 'log' as string });
    return { url: '/x.csv' };
  });
  // @ts-expect-error the result type is R
  await tasks.start<ExportEvents, { url: string }>(async () => ({ path: '/x.csv' }));

  // The map inferred from the context's annotation.
  await tasks.start(async (context: TaskContext<ExportEvents>) => {
    await context.emit(progress);
    // @ts-expect-error the map says progress data, not a string
    await context.emit('text');
  });

  await tasks.start<LogOnly>(async ({ emit }) => {
    await emit({ line: 'x' }, { event: 'log' });
    // @ts-expect-error a map without `progress` has no unnamed event
    await emit({ line: 'x' });
  });

  // Observable and AsyncIterable sources emit `progress` events.
  await tasks.start<ExportEvents>(of(progress));
  // @ts-expect-error their values are ExportEvents['progress']
  await tasks.start<ExportEvents>(of({ line: 'x' }));

  await tasks.updateProgress<ExportEvents>('id', progress);
  await tasks.updateProgress<ExportEvents, 'log'>('id', { line: 'x' }, { event: 'log' });
  // @ts-expect-error a progress event takes ExportEvents['progress']
  await tasks.updateProgress<ExportEvents>('id', { line: 'x' });
  // @ts-expect-error a log event takes ExportEvents['log']
  await tasks.updateProgress<ExportEvents, 'log'>('id', progress, { event: 'log' });
}

async function untypedTasks(tasks: SseTaskService, options: EmitOptions): Promise<void> {
  // Without a map, anything goes, as before event maps existed.
  const started = await tasks.start(async ({ emit }) => {
    await emit(1);
    await emit('text', { event: 'anything' });
    await emit({ a: 1 }, {});
    await emit(null, options);
    return 5;
  });
  await tasks.start(of(1, 'two', { three: 3 }));
  await tasks.updateProgress('id', { any: 'thing' });
  await tasks.updateProgress('id', 'text', { event: 'log' });
  await tasks.updateProgress('id', 'text', options);

  // A source typed by the parameter of start() takes a plain TaskContext function.
  const source: Parameters<SseTaskService['start']>[0] = async (context: TaskContext) => {
    await context.emit(started.taskId);
  };
  const asSource: TaskSource = source;
  void asSource;

  // An implementation of emit() fits any map.
  const emit = async (_data: unknown, _options?: EmitOptions) => 1;
  const plain: TaskContext = { taskId: 't', signal: new AbortController().signal, emit };
  const typed: TaskContext<ExportEvents> = { taskId: 't', signal: new AbortController().signal, emit };
  void plain;
  void typed;
}

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const progressOfMap: Equal<ProgressData<ExportEvents>, ExportEvents['progress']> = true;
const progressOfNone: Equal<ProgressData<object>, unknown> = true;
const progressOfLogOnly: Equal<ProgressData<LogOnly>, never> = true;

describe('typed event maps (checked by tsc)', () => {
  it('compiles; the checks are the @ts-expect-error lines', () => {
    expect([typeof typedTasks, typeof untypedTasks]).toEqual(['function', 'function']);
    expect([progressOfMap, progressOfNone, progressOfLogOnly]).toEqual([true, true, true]);
  });
});
