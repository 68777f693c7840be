import { requestJson } from './utils/api';
import { ADAPTERS, type RunningApp, startApp } from './utils/start-app';

interface Schema {
  type?: string;
  $ref?: string;
  enum?: unknown[];
  required?: string[];
  properties?: Record<string, Schema>;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  deprecated?: boolean;
  schema?: Schema;
}

interface Response {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<
    string,
    { schema?: Schema; example?: unknown; examples?: Record<string, { value: unknown }> }
  >;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, Response>;
}

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const ERROR_BODY = ['statusCode', 'error', 'message', 'code'];

describe.each(ADAPTERS)('OpenAPI: GET /docs and /docs-json (%s)', (adapter) => {
  let server: RunningApp;
  let document: OpenApiDocument;

  beforeAll(async () => {
    server = await startApp(adapter);
    const response = await requestJson<OpenApiDocument>(server.baseUrl, 'GET', '/docs-json');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    document = response.json;
  });
  afterAll(() => server?.close());

  /** A `$ref` to a component schema, followed. */
  const resolve = (schema: Schema | undefined): Schema => {
    const name = schema?.$ref?.replace('#/components/schemas/', '');
    return name === undefined ? (schema ?? {}) : document.components.schemas[name]!;
  };

  it('serves Swagger UI at /docs, with its files', async () => {
    const page = await requestJson(server.baseUrl, 'GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('swagger-ui-bundle.js');
    for (const file of ['swagger-ui-bundle.js', 'swagger-ui-init.js', 'swagger-ui.css']) {
      const asset = await requestJson(server.baseUrl, 'GET', `/docs/${file}`);
      expect({ file, status: asset.status }).toEqual({ file, status: 200 });
    }
    const init = await requestJson(server.baseUrl, 'GET', '/docs/swagger-ui-init.js');
    expect(init.text).toContain('/tasks/{taskId}/events');
  });

  it('documents the stream as text/event-stream, with Last-Event-ID, lastEventId, x-resume-key and the deprecated key query', () => {
    expect(document.openapi).toMatch(/^3\./);
    const events = document.paths['/tasks/{taskId}/events']!.get!;
    const ok = events.responses['200']!;
    expect(Object.keys(ok.content!)).toEqual(['text/event-stream']);
    expect(ok.description).toContain('`end`');
    expect(ok.content!['text/event-stream']!.example).toMatch(/^id: 0\nretry: \d+\n\n/);
    const parameters = Object.fromEntries(events.parameters!.map((p) => [`${p.in} ${p.name}`, p]));
    expect(Object.keys(parameters).sort()).toEqual(
      ['header Last-Event-ID', 'header x-resume-key', 'path taskId', 'query key', 'query lastEventId'].sort(),
    );
    expect(parameters['path taskId']).toMatchObject({ required: true });
    expect(parameters['header Last-Event-ID']).toMatchObject({
      required: false,
      schema: { type: 'integer' },
    });
    expect(parameters['query lastEventId']).toMatchObject({ required: false, schema: { type: 'integer' } });
    expect(parameters['header x-resume-key']).toMatchObject({ required: false, schema: { type: 'string' } });
    expect(parameters['header x-resume-key']!.deprecated).toBeUndefined();
    expect(parameters['query key']).toMatchObject({ deprecated: true });
  });

  it('documents every error of the stream with its JSON body', () => {
    const { responses } = document.paths['/tasks/{taskId}/events']!.get!;
    expect(Object.keys(responses).sort()).toEqual(['200', '204', '400', '403', '404', '410', '429', '503']);
    expect(responses['204']!.content).toBeUndefined();
    const codes: Record<string, string[]> = {
      400: ['INVALID_RESUME_POINT'],
      403: ['RESUME_KEY_INVALID', 'ACCESS_DENIED'],
      404: ['TASK_NOT_FOUND'],
      410: ['TASK_EXPIRED'],
      429: ['TOO_MANY_SUBSCRIBERS'],
      503: ['STORE_UNAVAILABLE', 'TOO_MANY_STREAMS'],
    };
    for (const [status, expected] of Object.entries(codes)) {
      const json = responses[status]!.content!['application/json']!;
      expect({ status, required: json.schema!.required }).toEqual({ status, required: ERROR_BODY });
      expect(json.schema!.properties!.statusCode!.enum).toEqual([Number(status)]);
      expect(json.schema!.properties!.code!.enum).toEqual(expected);
      expect(Object.keys(json.examples!)).toEqual(expected);
    }
    expect(responses['503']!.headers).toHaveProperty('Retry-After');
  });

  it('documents POST /tasks: its body, and a 201 of { taskId, resumeKey, streamUrl } that sets the cookie', () => {
    const start = document.paths['/tasks']!.post!;
    const body = resolve(start.requestBody!.content['application/json']!.schema);
    expect(Object.keys(body.properties!)).toEqual([
      'steps',
      'intervalMs',
      'payloadBytes',
      'failAt',
      'durable',
    ]);
    const created = start.responses['201']!;
    const answer = resolve(created.content!['application/json']!.schema);
    expect(answer).toMatchObject({
      type: 'object',
      required: ['taskId', 'resumeKey', 'streamUrl'],
      properties: {
        taskId: { type: 'string' },
        resumeKey: { type: 'string' },
        streamUrl: { type: 'string' },
      },
    });
    expect(created.headers).toHaveProperty('Set-Cookie');
    expect(start.responses['503']!.content!['application/json']!.schema!.properties!.code!.enum).toEqual([
      'TOO_MANY_TASKS',
      'STORE_FULL',
      'STORE_UNAVAILABLE',
    ]);
  });

  it('documents GET and DELETE /tasks/{taskId}: their answers, the key and the access errors', () => {
    const route = document.paths['/tasks/{taskId}']!;
    const info = resolve(route.get!.responses['200']!.content!['application/json']!.schema);
    expect(Object.keys(info.properties!)).toEqual(
      expect.arrayContaining(['taskId', 'status', 'expiresAt', 'lastEventId', 'subscribers']),
    );
    expect(Object.keys(route.get!.responses).sort()).toEqual(['200', '403', '404', '410', '503']);
    const cancelled = resolve(route.delete!.responses['202']!.content!['application/json']!.schema);
    expect(cancelled.properties!.status!.enum).toEqual(['cancelled']);
    expect(Object.keys(route.delete!.responses).sort()).toEqual(['202', '403', '404', '409', '410', '503']);
    for (const operation of [route.get!, route.delete!]) {
      expect(operation.parameters!.map((p) => `${p.in} ${p.name}`).sort()).toEqual([
        'header x-resume-key',
        'path taskId',
        'query key',
      ]);
    }
  });

  it('documents GET /health with its 200 and 503', () => {
    expect(Object.keys(document.paths['/health']!.get!.responses).sort()).toEqual(['200', '503']);
  });
});
