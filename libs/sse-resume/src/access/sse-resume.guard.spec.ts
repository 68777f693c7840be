import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  TaskAccessDeniedError,
  TaskExpiredError,
  TaskNotFoundError,
} from '../errors';
import type { StartedTask } from '../interfaces/task-context.interface';
import { SseResume, TaskAccess } from '../sse-resume.decorators';
import type { ResumeRequest } from './sse-resume.request';
import { SseResumeGuard, TaskAccessGuard } from './sse-resume.guard';
import type { SseTaskService } from '../sse-task.service';
import { deferred, nextTurn } from '../testing/async';
import { createService, shutDown } from '../testing/service';

class Routes {
  @SseResume()
  byDefault(): void {}

  @SseResume({ taskIdParam: 'job', keyQuery: 'token' })
  custom(): void {}

  @TaskAccess()
  info(): void {}

  @TaskAccess({ taskIdParam: 'job' })
  infoCustom(): void {}
}

@SseResume({ taskIdParam: 'fromClass' })
class ClassRoutes {
  handler(): void {}
}

function httpContext(
  request: ResumeRequest,
  handler: (...args: never[]) => unknown = Routes.prototype.byDefault,
  type = 'http',
  cls: object = Routes,
): ExecutionContext {
  return {
    getType: () => type,
    getHandler: () => handler,
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}), getNext: () => undefined }),
  } as unknown as ExecutionContext;
}

describe('SseResumeGuard', () => {
  let service: SseTaskService;
  let guard: SseResumeGuard;
  let started: StartedTask;
  let release = deferred();

  beforeEach(async () => {
    release = deferred();
    ({ service } = createService({ ttl: 60_000 }));
    guard = new SseResumeGuard(service, new Reflector());
    started = await service.start(async (ctx) => {
      await ctx.emit('one');
      await ctx.emit('two');
      await release.promise;
    });
    await nextTurn();
  });

  afterEach(async () => {
    release.resolve();
    await shutDown(service);
  });

  const check = (request: ResumeRequest, handler?: (...args: never[]) => unknown) =>
    guard.canActivate(httpContext(request, handler));

  it('lets a request with the right task id param and ?key through', async () => {
    await expect(
      check({ params: { taskId: started.taskId }, query: { key: started.resumeKey }, headers: {} }),
    ).resolves.toBe(true);
  });

  it('reads the task id from "id" when there is no "taskId"', async () => {
    await expect(
      check({ params: { id: started.taskId }, query: { key: started.resumeKey }, headers: {} }),
    ).resolves.toBe(true);
    await expect(
      check({
        params: { taskId: 'nope', id: started.taskId },
        query: { key: started.resumeKey },
        headers: {},
      }),
    ).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('takes the key from the x-resume-key header, the query winning over it', async () => {
    await expect(
      check({ params: { taskId: started.taskId }, headers: { 'x-resume-key': started.resumeKey } }),
    ).resolves.toBe(true);
    await expect(
      check({
        params: { taskId: started.taskId },
        query: { key: 'wrong' },
        headers: { 'x-resume-key': started.resumeKey },
      }),
    ).rejects.toBeInstanceOf(ResumeKeyInvalidError);
  });

  it("takes the key from the task's cookie last: query and header win over it", async () => {
    const cookie = (value: string) => `theme=dark; sse-resume-${started.taskId}=${value}`;
    const request = (query: Record<string, unknown>, headers: ResumeRequest['headers']) => ({
      params: { taskId: started.taskId },
      query,
      headers,
    });
    await expect(check(request({}, { cookie: cookie(started.resumeKey) }))).resolves.toBe(true);
    await expect(
      check(request({}, { cookie: cookie('wrong'), 'x-resume-key': started.resumeKey })),
    ).resolves.toBe(true);
    await expect(check(request({ key: started.resumeKey }, { cookie: cookie('wrong') }))).resolves.toBe(true);
    await expect(
      check(request({}, { cookie: cookie(started.resumeKey), 'x-resume-key': 'wrong' })),
    ).rejects.toBeInstanceOf(ResumeKeyInvalidError);
    // The cookie of another task is not this task's key.
    await expect(
      check(request({}, { cookie: `sse-resume-other=${started.resumeKey}` })),
    ).rejects.toBeInstanceOf(ResumeKeyInvalidError);
  });

  it.each([
    ['no key', {}, {}],
    ['a wrong key', { key: 'wrong' }, {}],
    ['a repeated key', { key: ['a', 'b'] }, {}],
    ['a repeated header', {}, { 'x-resume-key': ['a', 'b'] }],
  ])('refuses %s with ResumeKeyInvalidError (403)', async (_name, query, headers) => {
    await expect(check({ params: { taskId: started.taskId }, query, headers })).rejects.toBeInstanceOf(
      ResumeKeyInvalidError,
    );
  });

  it('throws TaskNotFoundError (404) for an unknown task', async () => {
    await expect(
      check({ params: { taskId: 'nope' }, query: { key: started.resumeKey }, headers: {} }),
    ).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('checks the resume point: header first, then ?lastEventId; malformed or ahead of the task is 400', async () => {
    const request = (headers: ResumeRequest['headers'], query: Record<string, unknown> = {}) => ({
      params: { taskId: started.taskId },
      query: { key: started.resumeKey, ...query },
      headers,
    });
    await expect(check(request({ 'last-event-id': '2' }))).resolves.toBe(true);
    await expect(check(request({}, { lastEventId: '1' }))).resolves.toBe(true);
    await expect(check(request({ 'last-event-id': '1' }, { lastEventId: '99' }))).resolves.toBe(true);
    await expect(check(request({ 'last-event-id': 'abc' }))).rejects.toBeInstanceOf(InvalidResumePointError);
    await expect(check(request({}, { lastEventId: '-1' }))).rejects.toBeInstanceOf(InvalidResumePointError);
    await expect(check(request({ 'last-event-id': '3' }))).rejects.toBeInstanceOf(InvalidResumePointError);
  });

  it('throws ResumePointAtEndError (204) at the end, and TaskExpiredError (410) once expired', async () => {
    release.resolve();
    for (let i = 0; i < 100 && (await service.getTaskInfo(started.taskId)).status === 'running'; i++)
      await nextTurn();
    const request = (lastEventId: string) => ({
      params: { taskId: started.taskId },
      query: { key: started.resumeKey },
      headers: { 'last-event-id': lastEventId },
    });
    await expect(check(request('2'))).resolves.toBe(true);
    await expect(check(request('3'))).rejects.toBeInstanceOf(ResumePointAtEndError);

    jest.useFakeTimers({ now: Date.now() + 60_000 });
    try {
      await expect(check(request('0'))).rejects.toBeInstanceOf(TaskExpiredError);
    } finally {
      jest.useRealTimers();
    }
  });

  it('uses the route settings: taskIdParam and keyQuery', async () => {
    await expect(
      check(
        { params: { job: started.taskId }, query: { token: started.resumeKey }, headers: {} },
        Routes.prototype.custom,
      ),
    ).resolves.toBe(true);
    await expect(
      check(
        { params: { taskId: started.taskId }, query: { token: started.resumeKey }, headers: {} },
        Routes.prototype.custom,
      ),
    ).rejects.toThrow(
      '@SseResume(): the route has no parameter job; set taskIdParam to the one holding the task id',
    );
  });

  it('reads route settings from the class too', async () => {
    const context = httpContext(
      { params: { fromClass: started.taskId }, query: { key: started.resumeKey }, headers: {} },
      ClassRoutes.prototype.handler,
      'http',
      ClassRoutes,
    );
    await expect(guard.canActivate(context)).resolves.toBe(true);
  });

  it('fails loudly for a route without a task id parameter', async () => {
    await expect(check({ params: {}, query: { key: started.resumeKey }, headers: {} })).rejects.toThrow(
      '@SseResume(): the route has no parameter taskId or id',
    );
  });

  it('ignores non-HTTP contexts', async () => {
    await expect(
      guard.canActivate(httpContext({ headers: {} }, Routes.prototype.byDefault, 'ws')),
    ).resolves.toBe(true);
  });

  it('runs the authorize option with the request', async () => {
    await shutDown(service);
    const authorize = jest.fn((request: unknown) => (request as { user?: string }).user === 'alice');
    ({ service } = createService({ authorize }));
    guard = new SseResumeGuard(service, new Reflector());
    const task = await service.start(() => release.promise);
    const request = { params: { taskId: task.taskId }, query: { key: task.resumeKey }, headers: {} };
    await expect(check({ ...request, user: 'alice' } as ResumeRequest)).resolves.toBe(true);
    await expect(check({ ...request, user: 'bob' } as ResumeRequest)).rejects.toBeInstanceOf(
      TaskAccessDeniedError,
    );
    expect(authorize).toHaveBeenCalledWith(
      expect.objectContaining({ user: 'bob' }),
      expect.objectContaining({ taskId: task.taskId }),
    );
  });
});

describe('TaskAccessGuard', () => {
  let service: SseTaskService;
  let guard: TaskAccessGuard;
  let started: StartedTask;

  beforeEach(async () => {
    ({ service } = createService({
      authorize: (request) => (request as { user?: string }).user !== 'mallory',
    }));
    guard = new TaskAccessGuard(service, new Reflector());
    started = await service.start(async () => 'done');
  });

  afterEach(() => shutDown(service));

  const check = (request: ResumeRequest, handler: (...args: never[]) => unknown = Routes.prototype.info) =>
    guard.canActivate(httpContext(request, handler));

  it('checks the key and the authorize option, whatever the task status, without a resume point', async () => {
    const request = {
      params: { taskId: started.taskId },
      query: { key: started.resumeKey },
      headers: { 'last-event-id': 'abc' },
    };
    await expect(check(request)).resolves.toBe(true);
    await expect(check({ ...request, query: { key: 'wrong' } })).rejects.toBeInstanceOf(
      ResumeKeyInvalidError,
    );
    await expect(check({ ...request, params: { taskId: 'nope' } })).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(check({ ...request, user: 'mallory' } as ResumeRequest)).rejects.toBeInstanceOf(
      TaskAccessDeniedError,
    );
  });

  it("reads the cookie of the route's task id (taskIdParam)", async () => {
    const cookie = `sse-resume-${started.taskId}=${started.resumeKey}`;
    await expect(check({ params: { taskId: started.taskId }, headers: { cookie } })).resolves.toBe(true);
    await expect(
      check({ params: { job: started.taskId }, headers: { cookie } }, Routes.prototype.infoCustom),
    ).resolves.toBe(true);
  });

  it('uses the route settings and names its decorator when the parameter is missing', async () => {
    await expect(
      check(
        { params: { job: started.taskId }, headers: { 'x-resume-key': started.resumeKey } },
        Routes.prototype.infoCustom,
      ),
    ).resolves.toBe(true);
    await expect(check({ params: {}, headers: {} })).rejects.toThrow(
      '@TaskAccess(): the route has no parameter taskId or id',
    );
  });

  it('ignores non-HTTP contexts', async () => {
    await expect(guard.canActivate(httpContext({ headers: {} }, Routes.prototype.info, 'rpc'))).resolves.toBe(
      true,
    );
  });
});
