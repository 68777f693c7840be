import type { TaskStream, TaskStreamEvent } from '../../libs/sse-resume-client/src';

/** What the demo task emits with each `progress` event. */
export interface DemoProgress {
  step: number;
  total: number;
  message: string;
  payload?: string;
}
export type DemoEvents = { progress: DemoProgress };
export type DemoResult = { steps: number };
export type DemoEvent = TaskStreamEvent<DemoEvents, DemoResult>;

/** Everything a stream yields until its iteration finishes (throws what the iterator throws). */
export async function collect<E, R>(stream: TaskStream<E, R>): Promise<TaskStreamEvent<E, R>[]> {
  const events: TaskStreamEvent<E, R>[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** 1, 2, ... n */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** Problems with a completed demo task's events, as lines (empty: all good). */
export function demoProblems(events: DemoEvent[], steps: number, payloadBytes = 0): string[] {
  const problems: string[] = [];
  const ids = events.map((event) => event.id);
  const expected = range(steps + 1);
  if (ids.length !== expected.length || ids.some((id, i) => id !== expected[i])) {
    const seen = new Set<number>();
    const dup = ids.filter((id) => seen.has(id) || !seen.add(id));
    const lost = expected.filter((id) => !seen.has(id));
    const disorder = ids.findIndex((id, i) => i > 0 && id <= ids[i - 1]!);
    problems.push(
      `ids: ${ids.length} of ${expected.length}, duplicated [${dup.slice(0, 5).join()}], lost [${lost
        .slice(0, 5)
        .join()}], first out of order at index ${disorder}`,
    );
  }
  for (const event of events.slice(0, -1)) {
    if (event.type !== 'progress') {
      problems.push(`event ${event.id} is a ${event.type}`);
      continue;
    }
    const { step, total, payload } = event.data;
    if (step !== event.id || total !== steps || (payload?.length ?? 0) !== payloadBytes) {
      problems.push(`event ${event.id}: bad data ${JSON.stringify(event.data).slice(0, 120)}`);
    }
  }
  const ends = events.filter((event) => event.type === 'end');
  const last = events.at(-1);
  if (ends.length !== 1 || last?.type !== 'end')
    problems.push(`${ends.length} end events, last is ${last?.type}`);
  else if (last.status !== 'completed' || last.result?.steps !== steps || last.id !== steps + 1) {
    problems.push(`end: ${JSON.stringify(last)}`);
  }
  return problems;
}

/** True for a `fetch` failure caused by a refused connection (nothing listens). */
export function isConnectionRefused(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined; e; ) {
    if (e.code === 'ECONNREFUSED') return true;
    if (Array.isArray(e.errors) && e.errors.some(isConnectionRefused)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** `input` with its origin replaced by `origin`. */
function reroute(input: string | URL | Request, origin: string): string {
  const url = new URL(input instanceof Request ? input.url : input);
  return origin + url.pathname + url.search;
}

/** A `fetch` sending request n to `origins[n % origins.length]`, whatever origin it was given. */
export function roundRobinFetch(origins: readonly string[]): typeof fetch {
  let next = 0;
  return (input, init) => fetch(reroute(input, origins[next++ % origins.length]!), init);
}

/** A `fetch` that starts tasks (POST) on `starts` and sends every other request to `others`. */
export function splitFetch(starts: string, others: string): typeof fetch {
  return (input, init) => fetch(reroute(input, (init?.method ?? 'GET') === 'POST' ? starts : others), init);
}

/**
 * A `fetch` that talks to `primary` until a connection to it is refused (or it answers a
 * status in `drainingStatuses`), then (this request included) to `secondary` for good: the
 * client's view of a load balancer failing over. `responses` lists the origin and status of
 * every response, in order.
 */
export function failoverFetch(
  primary: string,
  secondary: string,
  { drainingStatuses = [] }: { drainingStatuses?: number[] } = {},
): { fetch: typeof fetch; responses: { origin: string; status: number }[]; current: () => string } {
  let current = primary;
  const responses: { origin: string; status: number }[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    for (;;) {
      const origin = current;
      let response: Response;
      try {
        response = await fetch(reroute(input, origin), init);
      } catch (error) {
        if (origin !== primary || !isConnectionRefused(error)) throw error;
        current = secondary;
        continue;
      }
      responses.push({ origin, status: response.status });
      if (origin !== primary || !drainingStatuses.includes(response.status)) return response;
      await response.body?.cancel();
      current = secondary;
    }
  };
  return { fetch: wrapped, responses, current: () => current };
}
