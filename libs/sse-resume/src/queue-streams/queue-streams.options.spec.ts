import type { QueueStreamsOptions } from '../interfaces/durable-options.interface';
import { queueStreamsMessages, resolveQueueStreamsOptions } from './queue-streams.options';

const secret = 'x'.repeat(32);

describe('resolveQueueStreamsOptions', () => {
  it('is undefined when the option is not set', () => {
    expect(resolveQueueStreamsOptions(undefined)).toBeUndefined();
  });

  it('fills in the prefix and takes the connection from the Redis store', () => {
    expect(resolveQueueStreamsOptions({ queues: ['mail'], secret }, { url: 'redis://h:1' })).toEqual({
      queues: ['mail'],
      prefix: 'bull',
      secret,
      connection: { url: 'redis://h:1', options: undefined },
    });
    const cluster = resolveQueueStreamsOptions(
      { queues: ['a'], secret },
      { nodes: ['h:1', { host: 'g', port: 2 }], client: { password: 'p' } },
    );
    expect(cluster?.connection).toEqual({ nodes: ['h:1', 'g:2'], options: { password: 'p' } });
    expect(resolveQueueStreamsOptions({ queues: ['a'], secret })?.connection).toEqual({});
  });

  it('keeps a given connection and prefix', () => {
    const resolved = resolveQueueStreamsOptions(
      {
        queues: ['a', 'b'],
        secret,
        prefix: '{jobs}',
        connection: { url: 'redis://q:3', options: { db: 1 } },
      },
      { url: 'redis://h:1' },
    );
    expect(resolved).toMatchObject({
      prefix: '{jobs}',
      connection: { url: 'redis://q:3', options: { db: 1 } },
    });
  });

  it.each([
    ['not an object', 'x', queueStreamsMessages.notAnObject],
    ['no queues', { queues: [], secret }, queueStreamsMessages.queues],
    ['queues not an array', { queues: 'a', secret }, queueStreamsMessages.queues],
    ['an empty name', { queues: [''], secret }, queueStreamsMessages.queues],
    ['a colon', { queues: ['a:b'], secret }, queueStreamsMessages.queues],
    ['duplicates', { queues: ['a', 'a'], secret }, queueStreamsMessages.queues],
    ['a short secret', { queues: ['a'], secret: 'short' }, queueStreamsMessages.secret],
    ['no secret', { queues: ['a'] }, queueStreamsMessages.secret],
    ['an empty prefix', { queues: ['a'], secret, prefix: '' }, queueStreamsMessages.prefix],
    ['a bad url', { queues: ['a'], secret, connection: { url: 1 } }, queueStreamsMessages.connection],
    ['bad nodes', { queues: ['a'], secret, connection: { nodes: [1] } }, queueStreamsMessages.connection],
    [
      'url and nodes',
      { queues: ['a'], secret, connection: { url: 'u', nodes: ['h:1'] } },
      queueStreamsMessages.connection,
    ],
    ['a null connection', { queues: ['a'], secret, connection: null }, queueStreamsMessages.connection],
  ])('rejects %s', (_name, given, message) => {
    expect(() => resolveQueueStreamsOptions(given as unknown as QueueStreamsOptions)).toThrow(message);
  });
});
