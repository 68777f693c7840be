import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import type { SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { TaskStore } from '../interfaces/task-store.interface';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { SseResumeModule } from '../sse-resume.module';
import { SSE_RESUME_GIVEN_OPTIONS } from '../sse-resume.module-definition';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { TEST_REDIS_URL } from '../testing/redis';
import { queueStreamProviders } from './queue-stream.providers';
import { QueueStreamService } from './queue-stream.service';
import { QUEUE_STREAMS_OPTIONS, queueStreamsMessages } from './queue-streams.options';

async function boot(options: SseResumeOptions) {
  const moduleRef = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(options)],
    providers: [{ provide: SSE_RESUME_GIVEN_OPTIONS, useValue: options }, ...queueStreamProviders()],
  }).compile();
  moduleRef.useLogger(false);
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

/** A store as an application could write one, without appendOnce. */
function storeWithoutAppendOnce(): TaskStore {
  const memory = new InMemoryTaskStore(storeLimits(resolveOptions({})));
  return new Proxy(memory, {
    get(target, name: keyof InMemoryTaskStore) {
      if (name === 'appendOnce') return undefined;
      const value = target[name];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('queueStreamProviders', () => {
  const queueStreams = {
    queues: ['br-providers'],
    secret: 's'.repeat(32),
    connection: { url: TEST_REDIS_URL },
  };

  it('provides the resolved option and the service', async () => {
    const app = await boot({ queueStreams });
    try {
      expect(app.get(QUEUE_STREAMS_OPTIONS)).toMatchObject({ queues: ['br-providers'], prefix: 'bull' });
      expect(app.get(QueueStreamService).enabled).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('provides null and an idle service without the option', async () => {
    const app = await boot({});
    try {
      expect(app.get(QUEUE_STREAMS_OPTIONS)).toBeNull();
      expect(app.get(QueueStreamService).enabled).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('a bad option fails the boot with a message naming it', async () => {
    await expect(boot({ queueStreams: { ...queueStreams, secret: 'short' } })).rejects.toThrow(
      queueStreamsMessages.secret,
    );
  });

  it('a store without appendOnce fails the boot clearly', async () => {
    const store = storeWithoutAppendOnce();
    expect(store.appendOnce).toBeUndefined();
    await expect(boot({ store, queueStreams })).rejects.toThrow(queueStreamsMessages.noAppendOnce);
  });
});
