import 'reflect-metadata';
import { Controller, Param, Res, Sse } from '@nestjs/common';
import { ROUTE_ARGS_METADATA, SSE_METADATA, SSE_OPTIONS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { RouterResponseController } from '@nestjs/core/router/router-response-controller.js';
import { claimPendingSseRoutes, claimSseRoute, isClaimedSseRoute } from './nest-sse-route';

/** A method decorator that claims the route, as `@SseResume()` does on a method. */
const Claim = (): MethodDecorator => (target, key, descriptor) =>
  claimSseRoute(target, key, descriptor.value);

function routeArgKeys(type: object, key: string): string[] {
  return Object.keys((Reflect.getMetadata(ROUTE_ARGS_METADATA, type, key) as object | undefined) ?? {});
}

describe("Nest's internals the library relies on (fails loudly if Nest changes them)", () => {
  it('@Sse() marks the handler with SSE_METADATA = true and keeps its options apart', () => {
    class Routes {
      @Sse('x', { maxPendingDataLength: 7 })
      stream(): void {}
    }
    expect(SSE_METADATA).toBe('__sse__');
    expect(Reflect.getMetadata(SSE_METADATA, Routes.prototype.stream)).toBe(true);
    expect(Reflect.getMetadata(SSE_OPTIONS_METADATA, Routes.prototype.stream)).toEqual({
      maxPendingDataLength: 7,
    });
  });

  it('@Res() is recorded in ROUTE_ARGS_METADATA as `<RESPONSE>:<index>`', () => {
    class Routes {
      handler(@Param('id') _id: string, @Res() _res: unknown): void {}
    }
    expect(RouteParamtypes.RESPONSE).toBe(1);
    expect(routeArgKeys(Routes, 'handler')).toContain(`${RouteParamtypes.RESPONSE}:1`);
  });

  it("Nest's SSE writer can be called as the library calls it", () => {
    expect(typeof RouterResponseController.prototype.sse).toBe('function');
  });
});

describe('claimSseRoute()', () => {
  it('claims an @Sse() route: the SSE flag goes, a hidden @Res() comes after the parameters', () => {
    @Controller()
    class Routes {
      @Claim()
      @Sse('x')
      stream(@Param('a') _a: string, @Param('b') _b: string): void {}
    }
    const handler = Routes.prototype.stream;
    expect(isClaimedSseRoute(handler)).toBe(true);
    expect(Reflect.getMetadata(SSE_METADATA, handler)).toBeUndefined();
    expect(routeArgKeys(Routes, 'stream')).toContain(`${RouteParamtypes.RESPONSE}:2`);
  });

  it('claims a route decorated before its @Sse() once the pending routes are claimed', () => {
    @Controller()
    class Routes {
      @Sse('x')
      @Claim()
      stream(): void {}
    }
    const handler = Routes.prototype.stream;
    expect(isClaimedSseRoute(handler)).toBe(false);
    claimPendingSseRoutes();
    expect(isClaimedSseRoute(handler)).toBe(true);
    expect(Reflect.getMetadata(SSE_METADATA, handler)).toBeUndefined();
    expect(routeArgKeys(Routes, 'stream')).toEqual([`${RouteParamtypes.RESPONSE}:0`]);
  });

  it('leaves alone a route that takes the response itself, and a method that is no @Sse() route', () => {
    @Controller()
    class Routes {
      @Claim()
      @Sse('x')
      own(@Res() _res: unknown): void {}

      @Claim()
      plain(): void {}
    }
    claimPendingSseRoutes();
    expect(isClaimedSseRoute(Routes.prototype.own)).toBe(false);
    expect(Reflect.getMetadata(SSE_METADATA, Routes.prototype.own)).toBe(true);
    expect(isClaimedSseRoute(Routes.prototype.plain)).toBe(false);
    expect(routeArgKeys(Routes, 'plain')).toEqual([]);
  });

  it('is not fooled by values that are no handlers', () => {
    expect(() => claimSseRoute({}, 'x', undefined)).not.toThrow();
    expect(isClaimedSseRoute(undefined)).toBe(false);
  });
});
