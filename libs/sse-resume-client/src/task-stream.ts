import { parseRetryAfter, reconnectDelay, type ResolvedReconnect } from './backoff.js';
import { httpError, ProtocolError, RetriesExhaustedError, SseClientError } from './errors.js';
import { SseParser, type SseEvent } from './sse-parser.js';
import type { TaskRecord } from './storage.js';
import type { AnyTaskEvents, TaskEndEvent, TaskStreamEvent } from './types.js';

/** What one attempt to reconnect is about to do; given to `onReconnect`. */
export interface ReconnectInfo {
  /** Consecutive attempts that brought no new event (0 after a stream that delivered some). */
  readonly failures: number;
  /** How long the client waits before the attempt. */
  readonly delayMs: number;
  /** Why the previous connection ended: an error, or a `ProtocolError` for a close before `end`. */
  readonly cause: unknown;
  /** The id the next request resumes after (`Last-Event-ID`). */
  readonly lastEventId: number | undefined;
}

/** Options of one stream. */
export interface StreamOptions {
  /** The task's key; default: the one kept in storage (from `start()` or an earlier stream), else none (a cookie may carry it). */
  resumeKey?: string;
  /** Resume after this id; default: the id kept in storage, else the start of history. */
  lastEventId?: number;
  /** Stops the stream; iteration then throws `signal.reason`. */
  signal?: AbortSignal;
  /** Each time a response with status 200 starts the event stream. */
  onOpen?(info: { readonly lastEventId: number | undefined }): void;
  /** Before each wait to reconnect. */
  onReconnect?(info: ReconnectInfo): void;
}

/** What a stream needs from its client. */
export interface StreamContext {
  readonly url: string;
  readonly fetch: typeof fetch;
  readonly headers: () => Record<string, string>;
  readonly credentials: Credentials | undefined;
  readonly reconnect: ResolvedReconnect;
  readonly idleTimeoutMs: number;
  readonly record: TaskRecord;
  readonly random?: () => number;
  readonly cancel: (resumeKey: string | undefined) => Promise<boolean>;
}

/** `fetch`'s credentials mode. */
export type Credentials = 'omit' | 'same-origin' | 'include';

/** Reason of the internal abort behind `close()`: ends iteration quietly. */
const CLOSED = Symbol('closed');
/** A connection (or a request) that brought no byte for `idleTimeoutMs`: the `cause` of the reconnect that follows. */
export class IdleTimeoutError extends SseClientError {
  override name = 'IdleTimeoutError';
}

/**
 * One task's events, resumed across every reconnect: each id once, in order, then `end`.
 * Iterate it once (`for await`), or use the client's `subscribe()` / the RxJS adapter.
 */
export class TaskStream<E = AnyTaskEvents, R = unknown> implements AsyncIterable<TaskStreamEvent<E, R>> {
  /** Id of the last event handed to the application. */
  lastEventId: number | undefined;
  /** The `end` event, once received. */
  end: TaskEndEvent<R> | undefined;
  /** Times the stream reconnected. */
  reconnects = 0;
  readonly #closer = new AbortController();
  readonly #context: StreamContext;
  readonly #options: StreamOptions;
  #iterated = false;

  constructor(
    /** The task being streamed. */
    readonly taskId: string,
    context: StreamContext,
    options: StreamOptions = {},
  ) {
    this.#context = context;
    this.#options = options;
    // One signal for both ways to stop: close() (reason CLOSED) and the caller's signal.
    const { signal } = options;
    if (signal?.aborted) this.#closer.abort(signal.reason);
    else signal?.addEventListener('abort', () => this.#closer.abort(signal.reason), { once: true });
    if (options.resumeKey !== undefined) context.record.resumeKey = options.resumeKey;
    this.lastEventId = options.lastEventId ?? context.record.lastEventId;
  }

  /** The key the stream sends (from the options or storage); `undefined` when a cookie has to carry it. */
  get resumeKey(): string | undefined {
    return this.#options.resumeKey ?? this.#context.record.resumeKey;
  }

  /** Ends the stream here (the task goes on): iteration finishes without an error. */
  close(): void {
    this.#closer.abort(CLOSED);
  }

  /** Cancels the task; its stream then ends with `end` status `cancelled`. False if it had already ended. */
  cancel(): Promise<boolean> {
    return this.#context.cancel(this.resumeKey);
  }

  [Symbol.asyncIterator](): AsyncGenerator<TaskStreamEvent<E, R>, undefined, undefined> {
    if (this.#iterated) throw new SseClientError('a TaskStream is iterated once');
    this.#iterated = true;
    type Result = IteratorResult<TaskStreamEvent<E, R>, undefined>;
    // #run() yields the events of each read; they are accepted and handed out here, one
    // resolved promise each: no generator step per event. #run() reads on only when all are
    // out (or after `end` or a stop), so it never reads ahead of the application; whenever it
    // finishes (return(), throw(), an error) it empties the array, so nothing is left to hand out.
    const reads = this.#run();
    const stopped = this.#closer.signal;
    let events: SseEvent[] = [];
    let i = 0;
    /** A read in progress: calls made meanwhile wait for it, in order, as with a generator. */
    let reading: Promise<Result> | undefined;
    const next = (): Promise<Result> => {
      if (reading) return reading.then(next, next);
      while (i < events.length && !this.end && !stopped.aborted) {
        let event: TaskStreamEvent<E, R> | undefined;
        try {
          event = this.#accept(events[i++]!);
        } catch (error) {
          // thrown where #run() waits, so that it lets the connection go
          return reads.throw(error) as Promise<Result>;
        }
        if (event) return Promise.resolve({ value: event, done: false });
      }
      return (reading = reads.next().then(
        (read) => {
          reading = undefined;
          if (read.done) return read;
          events = read.value;
          i = 0;
          return next();
        },
        (error: unknown) => {
          reading = undefined;
          throw error;
        },
      ));
    };
    // On top of the generator: the rest of the protocol ([Symbol.asyncIterator], and
    // [Symbol.asyncDispose] where the runtime has it) comes from its prototypes and calls these.
    return Object.setPrototypeOf(
      {
        next,
        return: (value?: undefined) => reads.return(value),
        throw: (error: unknown) => reads.throw(error),
      },
      reads,
    ) as AsyncGenerator<TaskStreamEvent<E, R>, undefined, undefined>;
  }

  /** The connection loop: yields the events of each read (always the same array, refilled). */
  async *#run(): AsyncGenerator<SseEvent[], undefined, undefined> {
    const context = this.#context;
    const options = this.#options;
    const stopped = this.#closer.signal;
    const parsed: SseEvent[] = [];
    let failures = 0;
    let serverRetry: number | undefined;
    for (;;) {
      const attempt = new AbortController();
      const stop = (): void => attempt.abort(stopped.reason);
      stopped.addEventListener('abort', stop);
      const resumedAfter = this.lastEventId;
      let cause: unknown;
      let retryAfter: number | undefined;
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      let idle: ReturnType<typeof setTimeout> | undefined;
      /** The application holds an event: its time is not the connection's silence. */
      let holding = false;
      /** A callback's own exception: it stops the stream as it is, never retried. */
      let callbackError: unknown;
      try {
        if (stopped.aborted) stop();
        attempt.signal.throwIfAborted();
        // From the request on: a reused connection that died may never bring the headers either.
        let activity = Date.now();
        if (context.idleTimeoutMs > 0) {
          const check = (): void => {
            const quiet = holding ? 0 : Date.now() - activity;
            if (quiet >= context.idleTimeoutMs) {
              attempt.abort(new IdleTimeoutError(`silent for ${context.idleTimeoutMs} ms`));
            } else idle = setTimeout(check, context.idleTimeoutMs - quiet);
          };
          idle = setTimeout(check, context.idleTimeoutMs);
        }
        const response = await context.fetch(context.url, {
          headers: this.#requestHeaders(),
          credentials: context.credentials,
          signal: attempt.signal,
        });
        const { status } = response;
        if (status === 204) {
          // Nothing after our id: the task has ended and we have its `end`.
          context.record.forget();
          return undefined;
        }
        if (status < 200 || status > 299) {
          retryAfter = parseRetryAfter(response.headers.get('retry-after'));
          const error = await httpError(response);
          attempt.signal.throwIfAborted();
          if (status < 500 && status !== 408 && status !== 429) {
            // 403/404/410: the key or the task is gone; 400: what we kept is not valid.
            context.record.forget();
            throw error;
          }
          cause = error;
        } else if (
          status !== 200 ||
          !/^text\/event-stream/i.test(response.headers.get('content-type') ?? '') ||
          !response.body
        ) {
          await response.body?.cancel();
          throw new ProtocolError(
            `not a 200 event stream: ${status} ${response.headers.get('content-type')}`,
          );
        } else {
          const body = (reader = response.body.getReader());
          // A `fetch` that does not end its body on abort must not leave the read hanging.
          attempt.signal.addEventListener('abort', () => void body.cancel().catch(() => undefined));
          try {
            options.onOpen?.({ lastEventId: this.lastEventId });
          } catch (error) {
            throw (callbackError = error);
          }
          const parser = new SseParser(
            { onEvent: (event) => parsed.push(event), onRetry: (ms) => (serverRetry = ms) },
            { lastEventId: String(this.lastEventId ?? '') },
          );
          for (;;) {
            const chunk = await reader.read();
            if (chunk.done) {
              attempt.signal.throwIfAborted(); // a reader cancelled by an abort ends like this too
              break;
            }
            activity = Date.now();
            parser.push(chunk.value);
            if (parsed.length > 0) {
              // Handed out (and accepted) one by one by the iterator while this waits here.
              holding = true;
              yield parsed;
              holding = false;
              activity = Date.now();
              if (this.end) return undefined;
              // close() or an abort while the application held an event: no more of this chunk
              attempt.signal.throwIfAborted();
              parsed.length = 0;
            }
          }
          cause = new ProtocolError('closed before end');
        }
      } catch (error) {
        if (error === callbackError) throw error;
        if (attempt.signal.aborted) {
          const reason: unknown = attempt.signal.reason;
          if (reason === CLOSED) return undefined;
          if (!(reason instanceof IdleTimeoutError)) throw reason;
          cause = reason;
        } else if (error instanceof SseClientError) throw error;
        else cause = error;
      } finally {
        parsed.length = 0; // what the iterator had not handed out yet is dropped, not accepted
        clearTimeout(idle);
        stopped.removeEventListener('abort', stop);
        if (reader) {
          attempt.abort(CLOSED);
          reader.cancel().catch(() => undefined);
        }
      }
      // ids only grow: a new lastEventId means this attempt handed out events
      failures = this.lastEventId !== resumedAfter ? 0 : failures + 1;
      const { reconnect } = context;
      if (failures > reconnect.maxRetries) throw new RetriesExhaustedError(failures, cause);
      const base = (reconnect.honorServerRetry ? serverRetry : undefined) ?? reconnect.initialDelayMs;
      // Retry-After is a floor, never a reason to hammer: a 0 or a past date still backs off.
      const delayMs = Math.max(
        Math.min(retryAfter ?? 0, reconnect.maxDelayMs),
        reconnectDelay(failures, base, reconnect, context.random),
      );
      options.onReconnect?.({ failures, delayMs, cause, lastEventId: this.lastEventId });
      this.reconnects++;
      if (!(await this.#sleep(delayMs))) return undefined;
    }
  }

  /** Turns a parsed event into an outcome, or `undefined` for one already handed out. */
  #accept(event: SseEvent): TaskStreamEvent<E, R> | undefined {
    // At most 15 digits: always a safe integer.
    const id = Number(event.lastEventId);
    if (!/^\d{1,15}$/.test(event.lastEventId)) {
      throw new ProtocolError(`no valid id: "${event.lastEventId}"`);
    }
    if (id <= (this.lastEventId ?? -1)) return undefined;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      data = event.data;
    }
    // `end` and `gap` carry their fields in data ({status, result?, error?} and {from, to}).
    const outcome = (
      event.type === 'end' || event.type === 'gap'
        ? { ...(data as object), type: event.type, id }
        : { type: event.type, id, data }
    ) as TaskStreamEvent<E, R>;
    if (outcome.type === 'end') {
      this.end = outcome as TaskEndEvent<R>;
      this.#context.record.forget();
    } else this.#context.record.lastEventId = id;
    this.lastEventId = id;
    return outcome;
  }

  #requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...this.#context.headers(), accept: 'text/event-stream' };
    const key = this.resumeKey;
    if (key !== undefined) headers['x-resume-key'] = key;
    if (this.lastEventId !== undefined) headers['last-event-id'] = String(this.lastEventId);
    return headers;
  }

  /** Waits `ms`: true, or false if `close()` was called; rejects with the reason of an aborted signal. */
  #sleep(ms: number): Promise<boolean> {
    const stopped = this.#closer.signal;
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        stopped.removeEventListener('abort', done);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the signal's own reason, as fetch rejects
        if (stopped.aborted && stopped.reason !== CLOSED) reject(stopped.reason);
        else resolve(!stopped.aborted);
      };
      const timer = setTimeout(done, ms);
      stopped.addEventListener('abort', done);
      if (stopped.aborted) done();
    });
  }
}
