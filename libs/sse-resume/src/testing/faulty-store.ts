import { END_EVENT } from '../sse-resume.constants';
import type { FrameSlice, HistorySlice, TaskLookup, TaskStore } from '../interfaces/task-store.interface';
import type { TaskEventListener } from '../interfaces/task-store.interface';
import { ObservedTaskStore } from './observed-store';

/** Store calls a {@link FaultyTaskStore} can make fail. */
export type FaultyMethod = 'lookup' | 'watch' | 'read' | 'readFrames';

export interface StoreFault {
  method: FaultyMethod;
  /** Which call of `method` after `arm()` fails (1 = the next one). */
  call: number;
  error: Error;
  /** The failing call rejects only once this settles (e.g. once the client saw the response head). */
  after?: Promise<unknown>;
}

/**
 * An {@link ObservedTaskStore} that fails one chosen call, optionally late, and can serve
 * replays as ready-made frames (`readFrames`, as the Redis store does) built from `read`
 * (test helper, not part of the public API).
 */
export class FaultyTaskStore extends ObservedTaskStore {
  private fault: StoreFault | undefined;
  private readonly seen: Record<FaultyMethod, number> = { lookup: 0, watch: 0, read: 0, readFrames: 0 };
  readonly readFrames?: (
    taskId: string,
    afterId: number,
    limit: number,
    maxChars: number,
  ) => Promise<FrameSlice>;

  constructor(inner: TaskStore, options: { replayChunk?: number; frames?: boolean } = {}) {
    super(inner);
    this.replayChunk = options.replayChunk;
    if (options.frames) this.readFrames = (...args) => this.framesOf(...args);
  }

  readonly replayChunk: number | undefined;

  /** Makes the `fault.call`-th next call of `fault.method` fail; replaces any armed fault. */
  arm(fault: StoreFault): void {
    this.fault = fault;
    for (const method of Object.keys(this.seen) as FaultyMethod[]) this.seen[method] = 0;
  }

  disarm(): void {
    this.fault = undefined;
  }

  override async lookup(taskId: string): Promise<TaskLookup> {
    await this.maybeFail('lookup');
    return super.lookup(taskId);
  }

  override async watch(
    taskId: string,
    listener: TaskEventListener,
    onInterrupted?: () => void,
  ): Promise<() => void> {
    await this.maybeFail('watch');
    return super.watch(taskId, listener, onInterrupted);
  }

  override async read(taskId: string, afterId: number, limit: number): Promise<HistorySlice> {
    await this.maybeFail('read');
    return super.read(taskId, afterId, limit);
  }

  private async framesOf(
    taskId: string,
    afterId: number,
    limit: number,
    maxChars: number,
  ): Promise<FrameSlice> {
    await this.maybeFail('readFrames');
    const slice = await this.inner.read(taskId, afterId, limit);
    let text = '';
    let count = 0;
    let lastId = afterId;
    let ended = false;
    for (const event of slice.events) {
      if (count > 0 && text.length + event.frame.length > maxChars) break;
      text += event.frame;
      count++;
      lastId = event.seq;
      ended = event.type === END_EVENT;
    }
    return { text, count, lastId, ended, firstEventId: slice.firstEventId, lastEventId: slice.lastEventId };
  }

  private async maybeFail(method: FaultyMethod): Promise<void> {
    const fault = this.fault;
    if (!fault || fault.method !== method) return;
    if (++this.seen[method] !== fault.call) return;
    this.fault = undefined;
    if (fault.after) await fault.after;
    throw fault.error;
  }
}
