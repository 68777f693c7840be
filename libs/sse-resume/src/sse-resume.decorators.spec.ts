import { Controller, Get, Param, SetMetadata } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { LastEventId, ResumeKey, SseResume, TaskAccess } from './sse-resume.decorators';
import { SSE_RESUME_ROUTE_OPTIONS } from './access/sse-resume.request';
import { SseResumeGuard, TaskAccessGuard } from './access/sse-resume.guard';
import { SseResumeInterceptor } from './streams/sse-resume.interceptor';
import { SseTaskService } from './sse-task.service';
import { rawRequest } from './testing/raw-http';
import { type Adapter, startTestApp, type TestApp } from './testing/nest-app';

class Decorated {
  @SseResume({ taskIdParam: 'job', keyQuery: 'token' })
  stream(): void {}

  @SseResume()
  plain(): void {}

  @TaskAccess({ taskIdParam: 'job' })
  info(): void {}
}

describe('@SseResume() and @TaskAccess()', () => {
  const reflector = new Reflector();

  it('@SseResume() puts the route settings, the guard and the interceptor on the handler', () => {
    expect(reflector.get(SSE_RESUME_ROUTE_OPTIONS, Decorated.prototype.stream)).toEqual({
      taskIdParam: 'job',
      keyQuery: 'token',
    });
    expect(reflector.get(SSE_RESUME_ROUTE_OPTIONS, Decorated.prototype.plain)).toEqual({});
    expect(Reflect.getMetadata(GUARDS_METADATA, Decorated.prototype.stream)).toEqual([SseResumeGuard]);
    expect(Reflect.getMetadata(INTERCEPTORS_METADATA, Decorated.prototype.stream)).toEqual([
      SseResumeInterceptor,
    ]);
  });

  it('@TaskAccess() puts the route settings and its guard, and no interceptor', () => {
    expect(reflector.get(SSE_RESUME_ROUTE_OPTIONS, Decorated.prototype.info)).toEqual({ taskIdParam: 'job' });
    expect(Reflect.getMetadata(GUARDS_METADATA, Decorated.prototype.info)).toEqual([TaskAccessGuard]);
    expect(Reflect.getMetadata(INTERCEPTORS_METADATA, Decorated.prototype.info)).toBeUndefined();
  });
});

@Controller('echo')
class EchoController {
  constructor(private readonly tasks: SseTaskService) {}

  @Get('params')
  params(
    @LastEventId() lastEventId: number | undefined,
    @ResumeKey() key: string | undefined,
    @ResumeKey('token') token: string | undefined,
  ): Record<string, unknown> {
    return { lastEventId: lastEventId ?? null, key: key ?? null, token: token ?? null };
  }

  @Get('cookie/:taskId')
  cookie(@ResumeKey() key: string | undefined): Record<string, unknown> {
    return { key: key ?? null };
  }

  /** The route settings `@SseResume()` / `@TaskAccess()` leave, without their guard. */
  @Get('custom/:job')
  @SetMetadata(SSE_RESUME_ROUTE_OPTIONS, { taskIdParam: 'job', keyQuery: 'token' })
  custom(@ResumeKey() key: string | undefined): Record<string, unknown> {
    return { key: key ?? null };
  }

  @Get('tasks/:taskId')
  @TaskAccess()
  async info(@Param('taskId') taskId: string): Promise<{ status: string }> {
    return { status: (await this.tasks.getTaskInfo(taskId)).status };
  }
}

describe.each<Adapter>(['express', 'fastify'])('parameter decorators over HTTP (%s)', (adapter) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await startTestApp(adapter, [EchoController]);
  });

  afterAll(() => testApp.close());

  const echo = async (query = '', headers: Record<string, string> = {}) => {
    const reply = await rawRequest(`${testApp.url}/echo/params${query}`, { headers });
    return { status: reply.status, body: JSON.parse(reply.text) as Record<string, unknown> };
  };

  it('@LastEventId(): the Last-Event-ID header, else ?lastEventId, else undefined', async () => {
    expect((await echo()).body.lastEventId).toBeNull();
    expect((await echo('?lastEventId=7')).body.lastEventId).toBe(7);
    expect((await echo('', { 'Last-Event-ID': '42' })).body.lastEventId).toBe(42);
    expect((await echo('?lastEventId=7', { 'last-event-id': '0' })).body.lastEventId).toBe(0);
  });

  it.each([
    ['?lastEventId=abc', {}],
    ['?lastEventId=1.5', {}],
    ['?lastEventId=1&lastEventId=2', {}],
    ['', { 'Last-Event-ID': '-1' }],
    ['', { 'Last-Event-ID': '1e9999' }],
  ])('@LastEventId() answers 400 INVALID_RESUME_POINT for %p %p', async (query, headers) => {
    const reply = await echo(query, headers);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ statusCode: 400, code: 'INVALID_RESUME_POINT' });
  });

  it('@ResumeKey(): ?key (or the named query parameter), else the x-resume-key header', async () => {
    expect((await echo()).body).toMatchObject({ key: null, token: null });
    expect((await echo('?key=k1')).body).toMatchObject({ key: 'k1', token: null });
    expect((await echo('', { 'x-resume-key': 'h1' })).body).toMatchObject({ key: 'h1', token: 'h1' });
    expect((await echo('?key=k1&token=t1', { 'x-resume-key': 'h1' })).body).toMatchObject({
      key: 'k1',
      token: 't1',
    });
  });

  it("@ResumeKey(): then the cookie of the route's task id, only when the route has one", async () => {
    const get = async (path: string, headers: Record<string, string> = {}) =>
      JSON.parse((await rawRequest(`${testApp.url}/echo/${path}`, { headers })).text) as Record<
        string,
        unknown
      >;
    const cookie = 'a=1; sse-resume-t1=c1; sse-resume-t2=c2';
    expect(await get('cookie/t1', { cookie })).toEqual({ key: 'c1' });
    expect(await get('cookie/t2', { cookie })).toEqual({ key: 'c2' });
    expect(await get('cookie/t3', { cookie })).toEqual({ key: null });
    expect(await get('cookie/t1?key=q', { cookie })).toEqual({ key: 'q' });
    expect(await get('cookie/t1?key=', { cookie, 'x-resume-key': 'h' })).toEqual({ key: 'h' });
    // No task id parameter: no cookie.
    expect((await get('params', { cookie: 'sse-resume-undefined=x; sse-resume-=y' })).key).toBeNull();
    // The route's taskIdParam and keyQuery, as the guards read them.
    expect(await get('custom/t2', { cookie })).toEqual({ key: 'c2' });
    expect(await get('custom/t2?token=t&key=k', { cookie })).toEqual({ key: 't' });
  });

  it('@TaskAccess() guards a non-stream route: 200, 403, 404', async () => {
    const started = await testApp.tasks.start(async () => 'done');
    const info = (taskId: string, key?: string) =>
      rawRequest(`${testApp.url}/echo/tasks/${taskId}${key === undefined ? '' : `?key=${key}`}`);
    const ok = await info(started.taskId, started.resumeKey);
    expect(ok.status).toBe(200);
    expect(['running', 'completed']).toContain((JSON.parse(ok.text) as { status: string }).status);
    const wrong = await info(started.taskId, 'wrong');
    expect(wrong.status).toBe(403);
    expect(JSON.parse(wrong.text)).toMatchObject({ code: 'RESUME_KEY_INVALID' });
    expect((await info(started.taskId)).status).toBe(403);
    expect((await info('nope', started.resumeKey)).status).toBe(404);
  });
});
