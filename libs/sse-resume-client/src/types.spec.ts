/**
 * Type-level tests: checked by `tsc -p tsconfig.json --noEmit` (each `@ts-expect-error` must
 * meet an error); the `it` blocks run the same code on sample values.
 */
import type { Observable } from 'rxjs';
import { SseResumeClient, type TaskHandlers } from './client.js';
import { taskEvents$ } from './rxjs.js';
import type { TaskStream } from './task-stream.js';
import type {
  AnyTaskEvents,
  ReservedEventName,
  StartedTask,
  TaskDataEvent,
  TaskEndEvent,
  TaskGapEvent,
  TaskStreamEvent,
  TerminalStatus,
} from './types.js';

/** True when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only with `true`. */
const check = <T extends true>(_proof?: T): void => undefined;

interface Events {
  progress: { done: number; total: number };
  log: { line: string };
}
interface Result {
  url: string;
}

/** What an application does with the events: narrowing on `type` types the rest. */
function render(event: TaskStreamEvent<Events, Result>): string {
  switch (event.type) {
    case 'progress':
      // @ts-expect-error -- a progress event has no `line`
      void event.data.line;
      return `${event.data.done}/${event.data.total}`;
    case 'log':
      return event.data.line;
    case 'gap':
      return `lost ${event.from}..${event.to}`;
    case 'end':
      // @ts-expect-error -- end has no data
      void event.data;
      return `${event.status} ${event.result?.url ?? event.error ?? ''}`;
  }
}

describe('types', () => {
  it('TaskDataEvent: one member per event name, its payload typed', () => {
    check<
      Equal<
        TaskDataEvent<Events>,
        | { readonly type: 'progress'; readonly id: number; readonly data: { done: number; total: number } }
        | { readonly type: 'log'; readonly id: number; readonly data: { line: string } }
      >
    >();
    const event: TaskDataEvent<Events> = { type: 'log', id: 1, data: { line: 'x' } };
    // @ts-expect-error -- the payload of log is { line }
    const wrong: TaskDataEvent<Events> = { type: 'log', id: 1, data: { done: 1, total: 2 } };
    // @ts-expect-error -- not an event of the map
    const unknown: TaskDataEvent<Events> = { type: 'other', id: 1, data: {} };
    // @ts-expect-error -- events are read-only
    event.id = 2;
    expect([event, wrong, unknown]).toHaveLength(3);
  });

  it('the server reserved names never are task events', () => {
    interface Clashing {
      progress: number;
      end: string;
      gap: string;
      error: string;
      message: string;
    }
    check<
      Equal<
        TaskDataEvent<Clashing>,
        { readonly type: 'progress'; readonly id: number; readonly data: number }
      >
    >();
    check<Equal<ReservedEventName, 'end' | 'gap' | 'error' | 'message'>>();
    const names: ReservedEventName[] = ['end', 'gap', 'error', 'message'];
    expect(names).toHaveLength(4);
  });

  it('without an event map: any name, unknown data', () => {
    check<Equal<TaskDataEvent, TaskDataEvent<AnyTaskEvents>>>();
    check<Equal<TaskDataEvent, { readonly type: string; readonly id: number; readonly data: unknown }>>();
    const event: TaskStreamEvent = { type: 'anything', id: 3, data: [1, 2] };
    expect(event.id).toBe(3);
  });

  it('TaskStreamEvent narrows on type', () => {
    const events: Array<TaskStreamEvent<Events, Result>> = [
      { type: 'progress', id: 1, data: { done: 1, total: 2 } },
      { type: 'log', id: 2, data: { line: 'hello' } },
      { type: 'gap', id: 4, from: 3, to: 4 },
      { type: 'end', id: 5, status: 'completed', result: { url: '/r' } },
      { type: 'end', id: 5, status: 'failed', error: 'boom' },
    ];
    expect(events.map(render)).toEqual(['1/2', 'hello', 'lost 3..4', 'completed /r', 'failed boom']);
  });

  it('end: status is a terminal status, result is R', () => {
    check<Equal<TerminalStatus, 'completed' | 'failed' | 'cancelled'>>();
    check<Equal<TaskEndEvent<Result>['result'], Result | undefined>>();
    check<Equal<TaskEndEvent['result'], unknown>>();
    // @ts-expect-error -- running is not how a task ends
    const running: TaskEndEvent = { type: 'end', id: 1, status: 'running' };
    // @ts-expect-error -- the result is typed
    const badResult: TaskEndEvent<Result> = { type: 'end', id: 1, status: 'completed', result: { url: 1 } };
    const gap: TaskGapEvent = { type: 'gap', id: 2, from: 1, to: 2 };
    const started: StartedTask = { taskId: 't', resumeKey: 'k' };
    expect([running, badResult, gap, started]).toHaveLength(4);
  });

  it('the client carries the event map and result type through', async () => {
    const client = new SseResumeClient({
      baseUrl: 'http://h/',
      fetch: () => Promise.resolve(Response.json({ taskId: 't1', resumeKey: 'k' })),
    });
    const started = await client.start<Events, Result>({});
    check<Equal<typeof started, TaskStream<Events, Result> & { readonly resumeKey: string }>>();
    check<Equal<typeof started.end, TaskEndEvent<Result> | undefined>>();
    const stream = client.stream<Events, Result>('t1');
    check<Equal<typeof stream.resumeKey, string | undefined>>();
    check<
      Equal<
        ReturnType<(typeof stream)[typeof Symbol.asyncIterator]>,
        AsyncGenerator<TaskStreamEvent<Events, Result>, undefined, undefined>
      >
    >();
    // @ts-expect-error -- start() makes its own key and starts at the beginning
    void client.start({}, { resumeKey: 'k' }).catch(() => undefined);
    const handlers: TaskHandlers<Events, Result> = {
      onEvent: (event) => void render(event),
      onGap: (gap) => void gap.from,
      onEnd: (end) => void end.result?.url,
    };
    // @ts-expect-error -- onGap receives a gap event, not a progress one
    const badHandlers: TaskHandlers<Events, Result> = { onGap: (event: { data: { done: number } }) => event };
    const events$ = taskEvents$<Events, Result>(client, 't1');
    check<Equal<typeof events$, Observable<TaskStreamEvent<Events, Result>>>>();
    // @ts-expect-error -- the adapter owns the stream: unsubscribing is how to stop it
    taskEvents$(client, 't1', { signal: new AbortController().signal });
    started.close();
    stream.close();
    expect([handlers, badHandlers, events$]).toHaveLength(3);
  });
});
