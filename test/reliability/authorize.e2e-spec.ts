import {
  Controller,
  Delete,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  type INestApplication,
  Module,
  Param,
  Post,
  Sse,
  UnauthorizedException,
  type MessageEvent,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ScheduleModule } from '@nestjs/schedule';
import {
  LastEventId,
  ResumeKey,
  SseResume,
  SseResumeModule,
  SseTaskService,
  TaskAccess,
  type StartedTask,
  type TaskInfo,
} from '@app/sse-resume';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Observable } from 'rxjs';
import { requestJson } from '../utils/api';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter } from '../utils/start-app';

/**
 * Guarantee 5, the `authorize(request, taskInfo)` hook, in an app of its own: tasks belong
 * to the user who started them (here the `x-user` header stands for an authenticated user,
 * e.g. `request.user.id` after an auth guard). The user id goes into the task's `metadata`
 * at start; the hook compares it on every stream, resume, status and cancel request, after
 * the resume key. The same example is in docs/reliability.md.
 */
function userOf(request: unknown): string | undefined {
  const value = (request as { headers: Record<string, string | string[] | undefined> }).headers['x-user'];
  return typeof value === 'string' ? value : undefined;
}

async function authorize(request: unknown, task: TaskInfo): Promise<boolean> {
  await sleep(1); // an async check (a database, a policy service) works the same
  const user = userOf(request);
  if (user === 'banned') throw new ForbiddenException('this account is suspended'); // a status of your own
  return user !== undefined && user === task.metadata?.userId;
}

@Controller('jobs')
class JobsController {
  constructor(private readonly tasks: SseTaskService) {}

  @Post()
  @HttpCode(201)
  start(@Headers('x-user') user: string | undefined): Promise<StartedTask> {
    if (!user) throw new UnauthorizedException('sign in first');
    return this.tasks.start(
      async ({ emit, signal }) => {
        for (let step = 1; step <= 20 && !signal.aborted; step++) {
          await sleep(10);
          await emit({ step });
        }
        return { owner: user };
      },
      { metadata: { userId: user } },
    );
  }

  @Sse(':taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }

  @Get(':taskId')
  @TaskAccess()
  info(@Param('taskId') taskId: string): Promise<TaskInfo> {
    return this.tasks.getTaskInfo(taskId); // @TaskAccess() checked the key and the owner already
  }

  @Delete(':taskId')
  @HttpCode(202)
  @TaskAccess()
  async cancel(@Param('taskId') taskId: string): Promise<void> {
    await this.tasks.cancel(taskId, 'Cancelled by its owner');
  }
}

@Module({
  imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({ authorize })],
  controllers: [JobsController],
})
class JobsModule {}

describe.each(ADAPTERS)('authorize: tasks tied to their user (%s)', (adapter: Adapter) => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app =
      adapter === 'fastify'
        ? await NestFactory.create(JobsModule, new FastifyAdapter(), { logger: false })
        : await NestFactory.create(JobsModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  async function startJob(user: string): Promise<StartedTask> {
    const response = await requestJson<StartedTask>(base, 'POST', '/jobs', { headers: { 'x-user': user } });
    expect(response.status).toBe(201);
    return response.json;
  }

  const ask = (method: string, path: string, user?: string, extra: Record<string, string> = {}) =>
    requestJson<{ statusCode: number; code?: string; message: string }>(base, method, path, {
      headers: { Accept: 'text/event-stream', ...(user === undefined ? {} : { 'x-user': user }), ...extra },
    });

  it('the owner streams, resumes, reads the status (with its metadata) and cancels', async () => {
    const job = await startJob('alice');
    const events = `/jobs/${job.taskId}/events?key=${job.resumeKey}`;
    const first = await ask('GET', events, 'alice');
    expect(first.status).toBe(200);
    const frames = eventFrames(parseFrames(first.text).frames);
    expect(frames.map(idOf)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(dataOf(frames.at(-1)!)).toEqual({ status: 'completed', result: { owner: 'alice' } });
    const resumed = await ask('GET', events, 'alice', { 'Last-Event-ID': '18' });
    expect(eventFrames(parseFrames(resumed.text).frames).map(idOf)).toEqual([19, 20, 21]);
    const info = await ask('GET', `/jobs/${job.taskId}?key=${job.resumeKey}`, 'alice');
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({ taskId: job.taskId, metadata: { userId: 'alice' } });

    const running = await startJob('alice');
    expect((await ask('DELETE', `/jobs/${running.taskId}?key=${running.resumeKey}`, 'alice')).status).toBe(
      202,
    );
  });

  it('another user, even with the right key, gets 403 ACCESS_DENIED on every route, and cancels nothing', async () => {
    const job = await startJob('alice');
    const routes: [string, string][] = [
      ['GET', `/jobs/${job.taskId}/events?key=${job.resumeKey}`],
      ['GET', `/jobs/${job.taskId}?key=${job.resumeKey}`],
      ['DELETE', `/jobs/${job.taskId}?key=${job.resumeKey}`],
    ];
    for (const [method, path] of routes) {
      for (const user of ['mallory', undefined, '', 'Alice', 'alice2']) {
        const response = await ask(method, path, user);
        expect({ method, path, user, status: response.status, code: response.json.code }).toEqual({
          method,
          path,
          user,
          status: 403,
          code: 'ACCESS_DENIED',
        });
        expect(response.text).not.toContain('alice');
      }
    }
    // Not even a finished stream's 204 or a bad resume point's 400: the hook runs first.
    const pastEnd = await ask('GET', routes[0]![1], 'mallory', { 'Last-Event-ID': '999' });
    expect(pastEnd.status).toBe(403);
    const info = await ask('GET', `/jobs/${job.taskId}?key=${job.resumeKey}`, 'alice');
    expect(info.json).toMatchObject({ status: 'running' });
    await ask('DELETE', `/jobs/${job.taskId}?key=${job.resumeKey}`, 'alice');
  });

  it('the key is checked first: a wrong key is 403 RESUME_KEY_INVALID whoever asks; an unknown task 404', async () => {
    const job = await startJob('alice');
    for (const user of ['alice', 'mallory']) {
      const wrongKey = await ask('GET', `/jobs/${job.taskId}/events?key=nope`, user);
      expect(wrongKey.status).toBe(403);
      expect(wrongKey.json.code).toBe('RESUME_KEY_INVALID');
    }
    const unknown = await ask(
      'GET',
      `/jobs/00000000-0000-4000-8000-000000000000?key=${job.resumeKey}`,
      'alice',
    );
    expect(unknown.status).toBe(404);
    await ask('DELETE', `/jobs/${job.taskId}?key=${job.resumeKey}`, 'alice');
  });

  it('a hook that throws an HttpException answers with it', async () => {
    const job = await startJob('alice');
    const response = await ask('GET', `/jobs/${job.taskId}/events?key=${job.resumeKey}`, 'banned');
    expect(response.status).toBe(403);
    expect(response.json.message).toBe('this account is suspended');
    await ask('DELETE', `/jobs/${job.taskId}?key=${job.resumeKey}`, 'alice');
  });
});
