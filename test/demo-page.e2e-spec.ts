import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawRequest } from '@app/sse-resume/testing/raw-http';
import { DemoController } from '../src/demo/demo.controller';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

/**
 * Contract: GET / serves the demo page, a module script importing the client the app serves
 * at GET /sse-resume-client.js; every URL in the page is relative (it works under a prefix).
 */
describe.each(ADAPTERS)('GET / and /sse-resume-client.js (%s)', (adapter: Adapter) => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp(adapter);
  });
  afterAll(() => server.close());

  it('/: 200 text/html with the demo controls and a module script importing ./sse-resume-client.js', async () => {
    const response = await rawRequest(`${server.baseUrl}/`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-store');
    const html = response.text;
    expect(html).toMatch(/^<!doctype html>/i);
    // Ids other tools read.
    for (const element of [
      '<button id="start" type="button">start</button>',
      '<button id="cancel"',
      '<progress id="bar"',
      'id="percent"',
      'id="task"',
      'id="last-event-id"',
      'id="reconnects"',
      'id="gaps"',
      'id="status"',
      'id="steps"',
      'id="interval"',
      'id="durable"',
      'id="attempt"',
      'id="log"',
    ]) {
      expect(html).toContain(element);
    }
    expect(html).toContain('<script type="module"');
    expect(html).toMatch(/import\s*\{[^}]*\bSseResumeClient\b[^}]*\}\s*from\s*'\.\/sse-resume-client\.js';/);
    // Relative URLs only: no absolute path in an attribute or a string, the client's default routes.
    expect(html.match(/(?:src|href|action)\s*=\s*["']\/|["'`]\/[\w?]/g)).toBeNull();
    expect(html).not.toMatch(/baseUrl|routes\s*:/);
    // The key travels in a header (the client's), never in a URL; no EventSource of its own.
    expect(html).not.toMatch(/key=|new EventSource\(/);
  });

  it('/sse-resume-client.js: the client as an ES module (text/javascript, no-cache), and its source map', async () => {
    const response = await rawRequest(`${server.baseUrl}/sse-resume-client.js`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.text).toMatch(/export\s*\{[^}]*\bas SseResumeClient\b/);
    expect(response.text).toContain('//# sourceMappingURL=sse-resume-client.js.map');

    const map = await rawRequest(`${server.baseUrl}/sse-resume-client.js.map`);
    expect(map.status).toBe(200);
    expect(map.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(map.text)).toMatchObject({
      version: 3,
      sources: expect.arrayContaining([expect.any(String)]),
    });
  });

  it('/sse-resume-client.js when the bundle is missing: 500 JSON saying to run npm run build:client', async () => {
    const controller = server.app.get(DemoController);
    const root = controller.root;
    const empty = mkdtempSync(join(tmpdir(), 'sse-demo-root-'));
    controller.root = empty;
    try {
      for (const path of ['/sse-resume-client.js', '/sse-resume-client.js.map']) {
        const response = await rawRequest(`${server.baseUrl}${path}`);
        expect(response.status).toBe(500);
        expect(response.headers['content-type']).toMatch(/^application\/json/);
        const body = JSON.parse(response.text) as { statusCode: number; message: string };
        expect(body.statusCode).toBe(500);
        expect(body.message).toContain('npm run build:client');
      }
    } finally {
      controller.root = root;
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
