import { rawRequest } from '@app/sse-resume/testing/raw-http';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

/** Contract: GET / serves the HTML demo page. */
describe.each(ADAPTERS)('GET / (%s)', (adapter: Adapter) => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp(adapter);
  });
  afterAll(() => server.close());

  it('200 text/html with the demo controls', async () => {
    const response = await rawRequest(`${server.baseUrl}/`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.text).toMatch(/^<!doctype html>/i);
    for (const element of [
      '<button id="start"',
      '<progress id="bar"',
      'id="reconnects"',
      'id="status"',
      'id="last-event-id"',
      'id="steps"',
      'id="interval"',
    ]) {
      expect(response.text).toContain(element);
    }
    expect(response.text).toContain('new EventSource(');
  });
});
