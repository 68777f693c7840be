import { describe, expect, it } from '@jest/globals';
import { Controller, Delete, Get, HttpCode, Post, Sse } from '@nestjs/common';
import { DECORATORS } from '@nestjs/swagger';
import { EMPTY } from 'rxjs';
import { nextTurn } from '../testing/async';
import { documentRoutes, flushOpenApiDocs, successStatus, SWAGGER_METADATA } from './openapi-metadata';

const docs = () => ({
  parameters: [
    { name: 'x-a', in: 'header' as const, description: 'ours', required: false, schema: { type: 'string' } },
    { name: 'b', in: 'query' as const, description: 'ours', required: false, schema: { type: 'string' } },
  ],
  responses: {
    404: { description: 'ours', content: { 'application/json': { schema: { type: 'object' } } } },
    410: { description: 'ours' },
  },
});

const responsesOf = (handler: object) => Reflect.getMetadata(SWAGGER_METADATA.responses, handler);
const parametersOf = (handler: object) => Reflect.getMetadata(SWAGGER_METADATA.parameters, handler);

/** What @ApiResponse() / @ApiHeader() store, written by hand: the spec checks the merge, not swagger. */
function theirs(responses: object, parameters: object[] = []): MethodDecorator {
  return (_target, _key, descriptor) => {
    const handler = descriptor.value as object;
    Reflect.defineMetadata(SWAGGER_METADATA.responses, { ...responsesOf(handler), ...responses }, handler);
    Reflect.defineMetadata(
      SWAGGER_METADATA.parameters,
      [...(parametersOf(handler) ?? []), ...parameters],
      handler,
    );
  };
}

describe('documentRoutes', () => {
  it("uses @nestjs/swagger's metadata keys", () => {
    expect(SWAGGER_METADATA).toEqual({
      responses: DECORATORS.API_RESPONSE,
      parameters: DECORATORS.API_PARAMETERS,
    });
  });

  it('writes the docs a microtask after decoration, adding the default success response', async () => {
    class Routes {
      @Get()
      @documentRoutes(docs)
      read() {}
    }
    const handler = Routes.prototype.read;
    expect(responsesOf(handler)).toBeUndefined();
    await nextTurn();
    expect(parametersOf(handler)).toEqual(docs().parameters);
    expect(responsesOf(handler)).toEqual({ ...docs().responses, 200: { description: '' } });
  });

  it("keeps the application's own parameters and response fields, whichever decorator comes first", async () => {
    const mine = { 404: { description: 'mine' }, 200: { description: 'ok' } };
    const myHeader = { name: 'x-a', in: 'header', description: 'mine' };
    class Routes {
      @Get('above')
      @theirs(mine, [myHeader])
      @documentRoutes(docs)
      above() {}

      @Get('below')
      @documentRoutes(docs)
      @theirs(mine, [myHeader])
      below() {}
    }
    await nextTurn();
    for (const handler of [Routes.prototype.above, Routes.prototype.below]) {
      expect(parametersOf(handler)).toEqual([myHeader, docs().parameters[1]]);
      expect(responsesOf(handler)).toEqual({
        200: { description: 'ok' },
        404: { description: 'mine', content: docs().responses[404].content },
        410: { description: 'ours' },
      });
    }
  });

  it("gives a route swagger's own default success status: @HttpCode(), else 201 for POST, else 200", () => {
    class Routes {
      @Post() start() {}
      @Delete() @HttpCode(202) cancel() {}
      @Sse() events() {
        return EMPTY;
      }
    }
    expect(successStatus(Routes.prototype.start)).toBe(201);
    expect(successStatus(Routes.prototype.cancel)).toBe(202);
    expect(successStatus(Routes.prototype.events)).toBe(200);
  });

  it('on a class, documents each route handler except those skip() names', async () => {
    @Controller()
    @documentRoutes(docs, (handler) => handler === Skipped.prototype.own)
    class Skipped {
      @Get('a') a() {}
      @Get('own') own() {}
      helper() {}
    }
    await nextTurn();
    expect(responsesOf(Skipped.prototype.a)).toMatchObject({ 404: { description: 'ours' } });
    expect(responsesOf(Skipped.prototype.own)).toBeUndefined();
    expect(responsesOf(Skipped.prototype.helper)).toBeUndefined();
  });

  it('writes once even when flushed early, and merges two decorators on one route', () => {
    const extra = () => ({ responses: { 429: { description: 'busy' } } });
    class Routes {
      @Get()
      @documentRoutes(docs)
      @documentRoutes(extra)
      read() {}
    }
    const handler = Routes.prototype.read;
    flushOpenApiDocs(handler);
    flushOpenApiDocs(handler);
    expect(Object.keys(responsesOf(handler))).toEqual(['200', '404', '410', '429']);
    expect(parametersOf(handler)).toHaveLength(2);
  });
});
