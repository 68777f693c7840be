import { Logger, type MessageEvent } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { ResumePointAtEndError } from './errors';
import type { FrameSink } from './interfaces/frame-sink.interface';
import type { StartedTask } from './interfaces/task-context.interface';
import type { SseTaskService } from './sse-task.service';
import { type OpenMessage, SUBSCRIPTION_HANDLE } from './streams/open-message';
import type { TaskSubscription } from './streams/task-subscription';
import { nextTurn, turns, waitFor } from './testing/async';
import { Random, SEED_ENV, seedFromEnv } from './testing/prng';
import { createService, shutDown } from './testing/service';
import { fieldsOf, messageToFrame, parseFrames, type SseFields } from './testing/sse';

/**
 * Randomized: a task emits thousands of events in bursts while subscribers join, drop and
 * resume (from their last id, as EventSource does) at random points, through both ways a
 * subscription delivers (Nest MessageEvents, and frames written to a FrameSink as
 * `@SseResume()` does). Each must see exactly the contiguous ids it asked for, ending with
 * `end`. Rerun a failure with SSE_RESUME_SEED=<seed>.
 */

const seed = seedFromEnv();
const rerun = `seed ${seed} (rerun with ${SEED_ENV}=${seed})`;

/** A FrameSink that keeps what it is given, is sometimes slow and sometimes refuses (a dropped slow client). */
class RecordingSink implements FrameSink {
  text = '';
  closed = false;

  constructor(
    private readonly rng: Random,
    private readonly refuseChance: number,
  ) {}

  write(chunk: string | Buffer): boolean {
    if (this.closed) return false;
    if (this.rng.chance(this.refuseChance)) {
      this.closed = true;
      return false;
    }
    this.text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    return true;
  }

  async whenWritable(): Promise<void> {
    await turns(this.rng.int(0, 2));
  }

  async flushed(): Promise<void> {
    await nextTurn();
  }
}

class Subscriber {
  private readonly messages: MessageEvent[] = [];
  private sink: RecordingSink | undefined;
  private subscription: Subscription | undefined;
  completed = false;
  error: unknown;
  dropped = false;

  constructor(
    readonly label: string,
    readonly resumePoint: number,
    private readonly useSink: boolean,
    private readonly rng: Random,
  ) {}

  open(service: SseTaskService, task: StartedTask, refuseChance: number): void {
    const lastEventId = this.resumePoint === 0 && this.rng.chance(0.5) ? undefined : this.resumePoint;
    this.subscription = service
      .stream(task.taskId, { resumeKey: task.resumeKey, lastEventId, subscriberId: this.label })
      .subscribe({
        next: (message) => {
          if (this.useSink && !this.sink) {
            // What SseResumeInterceptor does with the open message.
            this.sink = new RecordingSink(this.rng, refuseChance);
            (message as OpenMessage<TaskSubscription>)[SUBSCRIPTION_HANDLE].attachSink(this.sink);
            return;
          }
          this.messages.push(message);
        },
        error: (err: unknown) => (this.error = err),
        complete: () => (this.completed = true),
      });
  }

  get active(): boolean {
    return !this.completed && this.error === undefined && !this.dropped;
  }

  drop(): void {
    this.dropped = true;
    this.subscription?.unsubscribe();
  }

  get frames(): SseFields[] {
    return (this.sink ? parseFrames(this.sink.text).frames : this.messages.map(messageToFrame)).map(fieldsOf);
  }

  /** The id a reconnecting EventSource would send: the last id it received. */
  get lastId(): number {
    const withId = this.frames.filter((frame) => frame.id !== undefined);
    return Number(withId[withId.length - 1]?.id ?? this.resumePoint);
  }

  /** The sink refused a write: the server dropped this client as too slow. */
  get refused(): boolean {
    return this.sink?.closed === true;
  }

  get sawEnd(): boolean {
    return this.frames.some((frame) => frame.event === 'end');
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : (JSON.stringify(err) ?? typeof err);
}

/** Everything wrong with what one subscriber received. */
function violations(sub: Subscriber, endId: number, allowGaps: boolean): string[] {
  const problems: string[] = [];
  const where = `${sub.label} (resume point ${sub.resumePoint})`;
  if (sub.error !== undefined) return [`${where}: stream error ${describeError(sub.error)}`];
  const frames = sub.frames.filter(
    (frame) => !(frame.comments.length > 0 && frame.event === undefined && frame.data === undefined),
  );
  // Dropped (by us, or as a slow client) before the first byte: nothing to check.
  if (frames.length === 0 && (sub.dropped || sub.refused)) return [];
  const [open, ...rest] = frames;
  if (!open || open.id !== String(sub.resumePoint) || open.retry === undefined || open.event !== undefined) {
    problems.push(`${where}: first frame is not the open frame: ${JSON.stringify(open)}`);
  }
  let expected = sub.resumePoint + 1;
  for (const frame of rest) {
    const id = Number(frame.id);
    if (frame.id === undefined || !/^\d+$/.test(frame.id)) {
      problems.push(`${where}: frame without a numeric id: ${JSON.stringify(frame)}`);
      break;
    }
    if (frame.event === 'gap') {
      const gap = JSON.parse(frame.data ?? 'null') as { from: number; to: number };
      if (!allowGaps || gap.from !== expected || gap.to !== id || gap.to < gap.from) {
        problems.push(`${where}: unexpected gap ${frame.data} (id ${id}) where ${expected} was due`);
        break;
      }
      expected = id + 1;
      continue;
    }
    if (id !== expected) {
      problems.push(`${where}: got id ${id} where ${expected} was due`);
      break;
    }
    if (frame.event === 'end') {
      if (id !== endId || frame.data !== '{"status":"completed","result":"done"}') {
        problems.push(`${where}: wrong end event ${id}: ${frame.data}`);
      }
    } else {
      const data = JSON.parse(frame.data ?? 'null') as { n?: number } | null;
      if (frame.event !== 'progress' || data?.n !== id) {
        problems.push(`${where}: event ${id} has the wrong content: ${frame.event} ${frame.data}`);
        break;
      }
    }
    expected = id + 1;
  }
  if (rest.some((frame, i) => frame.event === 'end' && i !== rest.length - 1)) {
    problems.push(`${where}: frames after end`);
  }
  if (!sub.dropped) {
    if (!sub.completed) problems.push(`${where}: never completed`);
    else if (!sub.sawEnd && !sub.refused) problems.push(`${where}: completed without end`);
  }
  return problems;
}

interface Scenario {
  events: number;
  historyLimit: number;
  allowGaps: boolean;
  refuseChance: number;
}

async function runScenario(
  rng: Random,
  scenario: Scenario,
): Promise<{ subscribers: Subscriber[]; problems: string[] }> {
  const { service } = createService({ historyLimit: scenario.historyLimit, heartbeatMs: 3_600_000 });
  const taskRng = new Random(rng.int(0, 0xffffffff));
  let emitted = 0;
  let finished = false;
  const started = await service.start(async (ctx) => {
    while (emitted < scenario.events) {
      const burst = Math.min(taskRng.int(1, 40), scenario.events - emitted);
      for (let i = 0; i < burst; i++) {
        emitted++;
        void ctx.emit({ n: emitted, pad: 'x'.repeat(taskRng.int(0, 40)) });
      }
      await turns(taskRng.chance(0.2) ? taskRng.int(2, 4) : 1);
    }
    return 'done';
  });
  const endId = scenario.events + 1;

  const subscribers: Subscriber[] = [];
  const resumes: { from: Subscriber; inTurns: number }[] = [];
  const reconnected = new Set<Subscriber>();
  let count = 0;
  const open = (resumePoint: number, kind?: 'sink' | 'rx') => {
    const useSink = kind ? kind === 'sink' : rng.chance(0.5);
    const sub = new Subscriber(`#${++count}-${useSink ? 'sink' : 'rx'}`, resumePoint, useSink, rng);
    subscribers.push(sub);
    sub.open(service, started, scenario.refuseChance);
    return sub;
  };

  try {
    for (let turn = 0; !finished || resumes.length > 0; turn++) {
      const active = subscribers.filter((sub) => sub.active);
      if (!finished && active.length < 25 && rng.chance(0.2)) {
        const choice = rng.int(0, 2);
        open(choice === 0 ? 0 : choice === 1 ? rng.int(0, emitted) : emitted);
      }
      if (active.length > 0 && rng.chance(0.12)) {
        const victim = rng.pick(active);
        victim.drop();
        if (rng.chance(0.8)) resumes.push({ from: victim, inTurns: rng.int(0, 5) });
      }
      // A sink that refused a write ended its stream without `end`: its client reconnects.
      for (const sub of subscribers) {
        if (sub.completed && sub.refused && !reconnected.has(sub)) {
          reconnected.add(sub);
          resumes.push({ from: sub, inTurns: rng.int(0, 3) });
        }
      }
      for (const pending of [...resumes]) {
        if (pending.inTurns-- > 0) continue;
        resumes.splice(resumes.indexOf(pending), 1);
        const from = pending.from.lastId;
        if (from >= endId) continue;
        open(from);
      }
      await nextTurn();
      if (!finished) finished = (await service.getTaskInfo(started.taskId)).status !== 'running';
      if (turn > 200_000) throw new Error(`${rerun}: the scenario does not finish`);
    }

    // Late subscribers, after the end: replay from anywhere, and 204 at the end itself.
    for (let i = 0; i < 4; i++) open(rng.int(0, scenario.events), i % 2 === 0 ? 'sink' : 'rx');
    open(scenario.events, 'rx');
    await waitFor(() => subscribers.every((sub) => !sub.active), 'every stream to end', 100_000);

    const atEnd = new Subscriber('#at-end', endId, false, rng);
    atEnd.open(service, started, 0);
    await waitFor(() => atEnd.error !== undefined || atEnd.completed, 'the 204');
    const problems = subscribers.flatMap((sub) => violations(sub, endId, scenario.allowGaps));
    if (!(atEnd.error instanceof ResumePointAtEndError))
      problems.push(`#at-end: got ${describeError(atEnd.error)}`);
    expect(service.stats.openStreams).toBe(0);
    return { subscribers, problems };
  } finally {
    for (const sub of subscribers) if (sub.active) sub.drop();
    await shutDown(service);
  }
}

describe(`randomized streams (${rerun})`, () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

  it('10 000 events; subscribers join, drop and resume at random: each gets exactly its contiguous ids, then end', async () => {
    const rng = new Random(seed);
    const { subscribers, problems } = await runScenario(rng, {
      events: 10_000,
      historyLimit: 20_000,
      allowGaps: false,
      refuseChance: 0.002,
    });
    if (problems.length > 0) {
      throw new Error(`${rerun}: ${problems.length} problem(s):\n${problems.slice(0, 20).join('\n')}`);
    }
    // The run exercised what it claims to.
    expect(subscribers.length).toBeGreaterThan(30);
    expect(subscribers.filter((sub) => sub.dropped).length).toBeGreaterThan(5);
    expect(subscribers.filter((sub) => sub.resumePoint > 0).length).toBeGreaterThan(5);
    expect(subscribers.filter((sub) => sub.sawEnd && sub.label.includes('sink')).length).toBeGreaterThan(0);
    expect(subscribers.filter((sub) => sub.sawEnd && sub.label.includes('rx')).length).toBeGreaterThan(0);
  }, 30_000);

  it('with a short history: gaps only as {from,to} right where the next id was due, and never a hole', async () => {
    const rng = new Random((seed ^ 0x9e3779b9) >>> 0);
    const { subscribers, problems } = await runScenario(rng, {
      events: 3_000,
      historyLimit: 200,
      allowGaps: true,
      refuseChance: 0.005,
    });
    if (problems.length > 0) {
      throw new Error(`${rerun}: ${problems.length} problem(s):\n${problems.slice(0, 20).join('\n')}`);
    }
    const gaps = subscribers.flatMap((sub) => sub.frames.filter((frame) => frame.event === 'gap'));
    expect(gaps.length).toBeGreaterThan(0);
  }, 30_000);
});
