import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Delete, Get, HttpCode, type INestApplication, Param, Post, Sse } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import {
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiQuery,
  DocumentBuilder,
  type OpenAPIObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { EMPTY } from 'rxjs';
import { ResumeCookie, SseResume, TaskAccess } from '../sse-resume.decorators';
import { SseResumeModule } from '../sse-resume.module';

@Controller('tasks')
class TasksController {
  @Post()
  @ResumeCookie()
  start() {
    return { taskId: 't', resumeKey: 'k' };
  }

  @Sse(':taskId/events')
  @SseResume()
  events(@Param('taskId') _taskId: string) {
    return EMPTY;
  }

  @Get(':taskId')
  @TaskAccess()
  info(@Param('taskId') _taskId: string) {}

  @Delete(':taskId')
  @HttpCode(202)
  @TaskAccess()
  cancel(@Param('taskId') _taskId: string) {}
}

@Controller('custom')
class CustomController {
  /** The application's decorators above the library's (they run after it). */
  @Sse(':id/above')
  @ApiNotFoundResponse({ description: 'No such export.' })
  @ApiHeader({ name: 'x-resume-key', description: 'The export key.', required: true })
  @SseResume({ keyQuery: 'token' })
  above(@Param('id') _id: string) {
    return EMPTY;
  }

  /** ... and below it (they run first). */
  @Sse(':id/below')
  @SseResume()
  @ApiQuery({ name: 'lastEventId', description: 'Mine.', required: false, type: Number })
  @ApiOkResponse({ description: 'My stream.' })
  below(@Param('id') _id: string) {
    return EMPTY;
  }

  @Sse(':id/undocumented')
  @SseResume({ openApi: false })
  undocumented(@Param('id') _id: string) {
    return EMPTY;
  }
}

type Operation = {
  parameters?: { name: string; in: string; required?: boolean; deprecated?: boolean; description?: string }[];
  responses: Record<
    string,
    {
      description: string;
      content?: Record<string, { schema?: unknown; examples?: object }>;
      headers?: object;
    }
  >;
};

describe('OpenAPI documentation of the decorated routes (@nestjs/swagger)', () => {
  let app: INestApplication;
  let document: OpenAPIObject;
  const operation = (path: string, method: 'get' | 'post' | 'delete') =>
    (document.paths[path] as Record<string, Operation>)[method]!;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot()],
      controllers: [TasksController, CustomController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
  });
  afterAll(() => app.close());

  it('documents a stream as text/event-stream with the frames, and its four parameters', () => {
    const events = operation('/tasks/{taskId}/events', 'get');
    expect(Object.keys(events.responses)).toEqual(['200', '204', '400', '403', '404', '410', '429', '503']);
    expect(Object.keys(events.responses[200]!.content!)).toEqual(['text/event-stream']);
    expect(events.responses[200]!.description).toMatch(/`gap`.*\n.*`end`/s);
    expect(events.responses[204]!.content).toBeUndefined();
    expect(events.parameters?.map((p) => `${p.in} ${p.name}${p.deprecated ? ' (deprecated)' : ''}`)).toEqual([
      'path taskId',
      'header Last-Event-ID',
      'query lastEventId',
      'header x-resume-key',
      'query key (deprecated)',
    ]);
  });

  it('documents every error with the { statusCode, error, message, code } body and an example per code', () => {
    const events = operation('/tasks/{taskId}/events', 'get');
    const forbidden = events.responses[403]!.content!['application/json']!;
    expect(forbidden.schema).toEqual({
      type: 'object',
      required: ['statusCode', 'error', 'message', 'code'],
      properties: {
        statusCode: { type: 'integer', enum: [403] },
        error: { type: 'string' },
        message: { type: 'string' },
        code: { type: 'string', enum: ['RESUME_KEY_INVALID', 'ACCESS_DENIED'] },
      },
    });
    expect(forbidden.examples).toMatchObject({
      ACCESS_DENIED: { value: { statusCode: 403, error: 'Forbidden', code: 'ACCESS_DENIED' } },
    });
    for (const status of ['400', '404', '410', '429', '503']) {
      const body = events.responses[status]!.content!['application/json']!.schema as {
        properties: { statusCode: { enum: number[] } };
      };
      expect(body.properties.statusCode.enum).toEqual([Number(status)]);
    }
    expect(events.responses[503]!.headers).toHaveProperty('Retry-After');
    expect(events.responses[429]!.headers).toHaveProperty('Retry-After');
  });

  it('documents @TaskAccess() routes with the key and their errors, keeping their success status', () => {
    const info = operation('/tasks/{taskId}', 'get');
    expect(Object.keys(info.responses)).toEqual(['200', '403', '404', '410', '503']);
    expect(info.parameters?.map((p) => p.name)).toEqual(['taskId', 'x-resume-key', 'key']);
    expect(Object.keys(operation('/tasks/{taskId}', 'delete').responses)).toEqual([
      '202',
      '403',
      '404',
      '410',
      '503',
    ]);
  });

  it('documents the cookie @ResumeCookie() sets on the start route', () => {
    const start = operation('/tasks', 'post');
    expect(Object.keys(start.responses)).toEqual(['201']);
    expect(start.responses[201]!.headers).toHaveProperty('Set-Cookie');
  });

  it("keeps the application's own decorators, above or below, and the route's keyQuery", () => {
    const above = operation('/custom/{id}/above', 'get');
    expect(above.responses[404]!.description).toBe('No such export.');
    expect(above.responses[404]!.content).toHaveProperty('application/json'); // our body, their words
    const keyHeader = above.parameters?.filter((p) => p.name === 'x-resume-key');
    expect(keyHeader).toEqual([expect.objectContaining({ description: 'The export key.', required: true })]);
    expect(above.parameters?.find((p) => p.name === 'token')).toMatchObject({
      in: 'query',
      deprecated: true,
    });

    const below = operation('/custom/{id}/below', 'get');
    expect(below.responses[200]!.description).toBe('My stream.');
    expect(below.parameters?.filter((p) => p.name === 'lastEventId')).toEqual([
      expect.objectContaining({ description: 'Mine.' }),
    ]);
  });

  it('leaves a route with openApi: false to the application', () => {
    const route = operation('/custom/{id}/undocumented', 'get');
    expect(route.responses).toEqual({ 200: { description: '' } });
    expect(route.parameters?.map((p) => p.name)).toEqual(['id']);
  });
});
