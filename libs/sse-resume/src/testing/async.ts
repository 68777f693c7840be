import type { Observable } from 'rxjs';

/** Test helpers for asynchronous code (not part of the public API). */

// Captured at load time, before a test may install fake timers.
const realSetImmediate = setImmediate;
const realSetTimeout = setTimeout;

/** Resolves after one turn of the event loop (a real `setImmediate`, even under fake timers). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/** Resolves after `n` turns of the event loop. */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

/** Waits, turn by turn, until `predicate` holds; fails after `maxTurns` turns. */
export async function waitFor(predicate: () => boolean, what = 'condition', maxTurns = 2_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (predicate()) return;
    await nextTurn();
  }
  throw new Error(`timed out after ${maxTurns} turns waiting for ${what}`);
}

/** Waits, in real time, until `predicate` holds (for real sockets and timers); fails after `timeoutMs`. */
export async function waitForMs(
  predicate: () => boolean,
  what = 'condition',
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => realSetTimeout(resolve, 2));
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Everything an Observable delivered so far. */
export interface Collected<T> {
  readonly values: T[];
  readonly error: unknown;
  readonly completed: boolean;
  /** Whether it completed or errored. */
  readonly finished: boolean;
  /** Resolves when it completes or errors (never rejects). */
  readonly done: Promise<void>;
  unsubscribe(): void;
}

/** Subscribes and records every value, the error and completion. */
export function collect<T>(source: Observable<T>): Collected<T> {
  const finished = deferred();
  const state = {
    values: [] as T[],
    error: undefined as unknown,
    completed: false,
    finished: false,
  };
  const subscription = source.subscribe({
    next: (value) => state.values.push(value),
    error: (err: unknown) => {
      state.error = err;
      state.finished = true;
      finished.resolve();
    },
    complete: () => {
      state.completed = true;
      state.finished = true;
      finished.resolve();
    },
  });
  return {
    get values() {
      return state.values;
    },
    get error() {
      return state.error;
    },
    get completed() {
      return state.completed;
    },
    get finished() {
      return state.finished;
    },
    done: finished.promise,
    unsubscribe: () => subscription.unsubscribe(),
  };
}

/**
 * `jest.useFakeTimers()` settings for this library: timers and `Date` are fake, while
 * `setImmediate` and `nextTick` stay real, since the hub flushes each turn's events with
 * `setImmediate` (advance time with `jest.advanceTimersByTimeAsync`, let turns pass with `nextTurn`).
 */
export const FAKE_TIMERS: FakeTimersConfig = {
  doNotFake: ['setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask'],
};
