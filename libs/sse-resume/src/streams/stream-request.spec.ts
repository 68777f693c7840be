import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  type NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { AuthorizedStream } from '../interfaces/stream-options.interface';
import { TaskStore } from '../interfaces/task-store.interface';
import { rawRequest } from '../testing/raw-http';
import { type Adapter, startTestApp, type TestApp } from '../testing/nest-app';
import { TaskStreamController } from '../testing/stream-controller';
import {
  rememberAuthorizedStream,
  runWithStreamRequest,
  takeAuthorizedStream,
  streamRequestHoldsHead,
  takeStreamRequest,
} from './stream-request';

const checked = { task: { taskId: 't1' }, resumePoint: 3 } as unknown as AuthorizedStream;

describe('the current stream request', () => {
  it('is there while the work runs and its async continuations, until released', async () => {
    const request = {};
    const { result } = runWithStreamRequest(request, async () => {
      await Promise.resolve();
      return takeStreamRequest();
    });
    expect(await result).toBe(request);
    // Read once: released, and with no other stream opening the storage is off again.
    expect(takeStreamRequest()).toBeUndefined();
  });

  it('tells whether the interceptor holds the head back until the stream opens', async () => {
    const held = runWithStreamRequest(
      {},
      async () => {
        await Promise.resolve();
        const holds = streamRequestHoldsHead();
        takeStreamRequest();
        return holds;
      },
      true,
    );
    const notHeld = runWithStreamRequest({}, () => {
      const holds = streamRequestHoldsHead();
      takeStreamRequest();
      return holds;
    });
    expect(await held.result).toBe(true);
    expect(notHeld.result).toBe(false);
    expect(streamRequestHoldsHead()).toBe(false);
  });

  it('stays on for one stream while another releases', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const readLater = () => gate.then(() => takeStreamRequest());
    const first = runWithStreamRequest({ name: 'first' }, readLater);
    const second = runWithStreamRequest({ name: 'second' }, readLater);
    first.release();
    open();
    expect(await second.result).toEqual({ name: 'second' });
    // Released: its context no longer holds the request (timers made meanwhile keep nothing alive).
    expect(await first.result).toBeUndefined();
    expect(takeStreamRequest()).toBeUndefined();
  });
});

describe('the guard result on the request', () => {
  it('serves the stream of the same task, key and resume point, once', () => {
    const request = {};
    rememberAuthorizedStream(request, 't1', { resumeKey: 'k', lastEventId: 3 }, checked);
    expect(takeAuthorizedStream(request, 't1', { resumeKey: 'k', lastEventId: 4 })).toBeUndefined();
    expect(takeAuthorizedStream(request, 't2', { resumeKey: 'k', lastEventId: 3 })).toBeUndefined();
    expect(takeAuthorizedStream(request, 't1', { resumeKey: 'x', lastEventId: 3 })).toBeUndefined();
    expect(takeAuthorizedStream(request, 't1', { resumeKey: 'k', lastEventId: 3 })).toBe(checked);
    expect(takeAuthorizedStream(request, 't1', { resumeKey: 'k', lastEventId: 3 })).toBeUndefined();
  });

  it('ignores requests that are not objects', () => {
    rememberAuthorizedStream(undefined, 't1', { resumeKey: 'k' }, checked);
    expect(takeAuthorizedStream(undefined, 't1', { resumeKey: 'k' })).toBeUndefined();
  });
});

/** Pins the Nest behaviour the interceptor relies on: handlers run in its async context. */
@Injectable()
class MarkRequestInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<{ marker?: string }>();
    request.marker = 'seen by the handler';
    return runWithStreamRequest(request, () => next.handle()).result;
  }
}

function markerOfCurrentRequest(): string | undefined {
  return (takeStreamRequest() as { marker?: string } | undefined)?.marker;
}

@Controller()
class ContextController {
  @Get('sync')
  @UseInterceptors(MarkRequestInterceptor)
  sync(): { marker: string | undefined } {
    return { marker: markerOfCurrentRequest() };
  }

  @Get('async')
  @UseInterceptors(MarkRequestInterceptor)
  async later(): Promise<{ marker: string | undefined }> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { marker: markerOfCurrentRequest() };
  }

  @Get('outside')
  outside(): { marker: string | undefined } {
    return { marker: markerOfCurrentRequest() };
  }
}

describe.each<Adapter>(['express', 'fastify'])('the request a handler serves (%s)', (adapter) => {
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp(adapter, [ContextController, TaskStreamController], { heartbeatMs: 60_000 });
  });
  afterAll(() => server.close());

  it.each(['sync', 'async'])(
    'Nest runs a %s handler in the async context of its interceptor',
    async (path) => {
      const reply = await rawRequest(`${server.url}/${path}`);
      expect(JSON.parse(reply.text)).toEqual({ marker: 'seen by the handler' });
    },
  );

  it('and outside an interceptor there is no request in that context', async () => {
    const reply = await rawRequest(`${server.url}/outside`);
    expect(JSON.parse(reply.text)).toEqual({});
  });

  it('a @SseResume() stream is checked once, by its guard, not again by the stream', async () => {
    const started = await server.tasks.start(async (ctx) => {
      await ctx.emit('one');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const store = server.app.get<TaskStore>(TaskStore);
    const lookup = jest.spyOn(store, 'lookup');
    try {
      const reply = await rawRequest(`${server.url}/tasks/${started.taskId}/events?key=${started.resumeKey}`);
      expect(reply.status).toBe(200);
      expect(reply.text).toContain('event: end');
      expect(lookup).toHaveBeenCalledTimes(1);
    } finally {
      lookup.mockRestore();
    }
  });
});
