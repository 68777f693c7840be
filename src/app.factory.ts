import {
  BadRequestException,
  type INestApplication,
  type LoggerService,
  type LogLevel,
} from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { SseResumeExceptionFilter } from '@app/sse-resume';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AppModule } from './app.module';
import type { AppConfig } from './config';
import { answerClientErrorsWithJson, MAX_PARAM_LENGTH } from './http-limits';
import { setUpOpenApi } from './openapi';

/** Request bodies are tiny JSON objects; anything larger is refused with 413. */
export const BODY_LIMIT_BYTES = 16 * 1024;

export interface CreateAppOptions {
  logger?: LoggerService | LogLevel[] | false;
}

/** Builds the example app on Express or Fastify (the e2e tests use this too). */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<INestApplication> {
  const module = AppModule.register(config);
  let app: INestApplication;
  if (config.adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    // bodyParser: false keeps Fastify's own JSON parser only, as on Express: Nest's would also
    // parse form posts (an empty one read as `{}`, a task any web page could start).
    const fastify = new FastifyAdapter({
      bodyLimit: BODY_LIMIT_BYTES,
      routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    });
    app = await NestFactory.create(module, fastify, {
      bodyParser: false,
      logger: options.logger,
    });
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, {
      bodyParser: false,
      logger: options.logger,
    });
    // body-parser reads an empty JSON body as `{}`; Fastify answers 400, and so do we.
    express.use((req: IncomingMessage, _res: ServerResponse, next: (error?: unknown) => void) => {
      const empty = req.headers['content-length'] === '0' && /json/i.test(req.headers['content-type'] ?? '');
      next(empty ? new BadRequestException('the body must be a JSON object, not empty') : undefined);
    });
    express.useBodyParser('json', { limit: BODY_LIMIT_BYTES });
    app = express;
  }
  answerClientErrorsWithJson(app.getHttpServer() as Server);
  // Adds Retry-After to the library's 503 and 429 answers.
  app.useGlobalFilters(new SseResumeExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
  setUpOpenApi(app); // GET /docs (Swagger UI), GET /docs-json
  app.enableShutdownHooks();
  return app;
}
