import { Controller, Sse } from '@nestjs/common';
import type { Job } from 'bullmq';
import { rawRequest } from '../testing/raw-http';
import { TEST_REDIS_URL } from '../testing/redis';
import { dataOf, parseFrames } from '../testing/sse';
import { QueueJobStream } from './queue-job-stream.decorator';
import {
  BRIDGE_SECRET,
  bridgeName,
  startBridgeApp,
  TestQueue,
  type BridgeApp,
} from './testing/bridge-harness';

const queueName = bridgeName();

@Controller()
class JobsController {
  @Sse('jobs/:jobId/events')
  @QueueJobStream(queueName)
  events(): void {
    throw new Error('not called');
  }

  @Sse('other/:id/events')
  @QueueJobStream(queueName, { jobIdParam: 'id' })
  other(): void {
    throw new Error('not called');
  }

  @Sse('missing/events')
  @QueueJobStream(queueName)
  missing(): void {
    throw new Error('not called');
  }
}

describe('@QueueJobStream()', () => {
  let q: TestQueue;
  let app: BridgeApp;

  beforeEach(async () => {
    q = new TestQueue(queueName, bridgeName());
    app = await startBridgeApp(
      {
        queueStreams: {
          queues: [q.name],
          prefix: q.prefix,
          secret: BRIDGE_SECRET,
          connection: { url: TEST_REDIS_URL },
        },
      },
      { controllers: [JobsController], listen: true },
    );
  });

  afterEach(async () => {
    await app.close();
    await q.cleanUp();
  });

  it('streams the job named by the route, and resumes after Last-Event-ID', async () => {
    const job = await q.queue.add('d', {});
    q.worker(async (j: Job) => {
      await j.updateProgress(1);
      await j.updateProgress(2);
      return 'decorated';
    });
    const response = await rawRequest(`${app.url}/jobs/${job.id}/events`);
    expect(response.status).toBe(200);
    const frames = parseFrames(response.text).frames.filter((f) => f.event !== undefined);
    expect(frames.map((f) => [f.event, f.id, dataOf(f)])).toEqual([
      ['progress', '1', 1],
      ['progress', '2', 2],
      ['end', '3', { status: 'completed', result: 'decorated' }],
    ]);
    const resumed = await rawRequest(`${app.url}/other/${job.id}/events`, {
      headers: { 'Last-Event-ID': '2' },
    });
    expect(
      parseFrames(resumed.text)
        .frames.filter((f) => f.event !== undefined)
        .map((f) => f.id),
    ).toEqual(['3']);
  });

  it('answers 404 for a job not in the queue, 204 at the end, 500 for a route without the parameter', async () => {
    for (let i = 0; i < 5; i++) expect((await rawRequest(`${app.url}/jobs/none/events`)).status).toBe(404);
    const job = await q.queue.add('e', {});
    q.worker(() => Promise.resolve('x'));
    await rawRequest(`${app.url}/jobs/${job.id}/events`);
    const atEnd = await rawRequest(`${app.url}/jobs/${job.id}/events`, { headers: { 'Last-Event-ID': '1' } });
    expect(atEnd.status).toBe(204);
    expect((await rawRequest(`${app.url}/missing/events`)).status).toBe(500);
  });
});
