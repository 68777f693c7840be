import { HttpStatus, RequestMethod } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';

/**
 * Documents the library's routes for `@nestjs/swagger` without importing it: the decorators
 * leave OpenAPI objects under the metadata keys its explorer reads (its `DECORATORS`
 * constants, unchanged since v4), in the shapes its own `@ApiResponse()`, `@ApiHeader()` and
 * `@ApiQuery()` store. Without swagger nobody reads them.
 *
 * The application's own decorators win, whatever their order: what a decorator asks for is
 * written a microtask later, once every decorator of the class has run (a class is
 * decorated synchronously, and no document can be built before the app is created, which
 * awaits). Then a response the route already documents keeps its fields (ours fill in the
 * rest), a parameter it already has (same name and place) is not added again, and a route
 * left without a success response gets the one swagger itself would have given it.
 */
export const SWAGGER_METADATA = {
  responses: 'swagger/apiResponse',
  parameters: 'swagger/apiParameters',
} as const;

/** An OpenAPI parameter object, as `@ApiHeader()` / `@ApiQuery()` store them. */
export interface ParameterDoc {
  name: string;
  in: 'header' | 'query';
  description: string;
  required: boolean;
  deprecated?: boolean;
  schema: Record<string, unknown>;
}

/** An OpenAPI response object, as `@ApiResponse()` stores it (by status). */
export interface ResponseDoc {
  description: string;
  content?: Record<string, Record<string, unknown>>;
  headers?: Record<string, Record<string, unknown>>;
}

export interface RouteDocs {
  parameters: ParameterDoc[];
  responses: Record<string, ResponseDoc>;
}

type Handler = object;
type Docs = (handler: Handler) => Partial<RouteDocs>;

const pending = new Map<Handler, Docs[]>();

/** A method or class decorator that documents each route handler it decorates with `docs`. */
export function documentRoutes(
  docs: Docs,
  skip?: (handler: Handler) => boolean,
): MethodDecorator & ClassDecorator {
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      schedule(descriptor.value as Handler, docs);
      return descriptor;
    }
    for (const handler of routeHandlers(target as { prototype: object })) {
      if (!skip?.(handler)) schedule(handler, docs);
    }
    return target;
  }) as MethodDecorator & ClassDecorator;
}

/** The methods of a controller class that are routes (have an HTTP method). */
function routeHandlers(controller: { prototype: object }): Handler[] {
  return Object.getOwnPropertyNames(controller.prototype)
    .filter((name) => name !== 'constructor')
    .map((name) => Object.getOwnPropertyDescriptor(controller.prototype, name)?.value as unknown)
    .filter(
      (value): value is Handler => typeof value === 'function' && Reflect.hasMetadata(METHOD_METADATA, value),
    );
}

function schedule(handler: Handler, docs: Docs): void {
  const queued = pending.get(handler);
  if (queued) {
    queued.push(docs);
    return;
  }
  pending.set(handler, [docs]);
  queueMicrotask(() => flushOpenApiDocs(handler));
}

/** Writes what the decorators asked for on `handler` (done by itself a microtask after decoration). */
export function flushOpenApiDocs(handler: Handler): void {
  const queued = pending.get(handler);
  if (!queued) return;
  pending.delete(handler);
  for (const docs of queued) {
    const { parameters = [], responses = {} } = docs(handler);
    mergeParameters(handler, parameters);
    mergeResponses(handler, responses);
  }
  ensureSuccessResponse(handler);
}

function mergeParameters(handler: Handler, ours: ParameterDoc[]): void {
  const theirs = (Reflect.getMetadata(SWAGGER_METADATA.parameters, handler) ?? []) as ParameterDoc[];
  const added = ours.filter((param) => !theirs.some((p) => p.name === param.name && p.in === param.in));
  Reflect.defineMetadata(SWAGGER_METADATA.parameters, [...theirs, ...added], handler);
}

function mergeResponses(handler: Handler, ours: Record<string, ResponseDoc>): void {
  const theirs = (Reflect.getMetadata(SWAGGER_METADATA.responses, handler) ?? {}) as Record<string, object>;
  const merged: Record<string, object> = { ...theirs };
  for (const [status, response] of Object.entries(ours)) merged[status] = { ...response, ...theirs[status] };
  Reflect.defineMetadata(SWAGGER_METADATA.responses, merged, handler);
}

/**
 * Once a route has responses in the metadata, swagger no longer adds its default one
 * (`@HttpCode()`, else 201 for POST, else 200): add it when no success is documented.
 */
function ensureSuccessResponse(handler: Handler): void {
  const responses = (Reflect.getMetadata(SWAGGER_METADATA.responses, handler) ?? {}) as Record<
    string,
    object
  >;
  if (Object.keys(responses).some((status) => /^(2..|2XX|default)$/.test(status))) return;
  responses[successStatus(handler)] = { description: '' };
  Reflect.defineMetadata(SWAGGER_METADATA.responses, responses, handler);
}

/** The status a route answers with on success, as Nest (and swagger) work it out. */
export function successStatus(handler: Handler): number {
  const code = Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined;
  if (code !== undefined) return code;
  const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
  return method === RequestMethod.POST ? HttpStatus.CREATED : HttpStatus.OK;
}
