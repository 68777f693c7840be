import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** Swagger UI at `/docs`, the OpenAPI document at `/docs-json` (built on the first request). */
export function setUpOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('nest-sse-resume example')
    .setDescription(
      'Start a task, stream its events with Server-Sent Events, resume after a cut with `Last-Event-ID`. ' +
        'The resume key goes in the `x-resume-key` header (browsers: the HttpOnly cookie the start route sets).',
    )
    .setVersion('0.1.0')
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), {
    jsonDocumentUrl: 'docs-json',
  });
}
