import { Controller, Get, Header } from '@nestjs/common';
import { DEMO_PAGE } from './demo-page';

/** Serves the demo page at `/`. */
@Controller()
export class DemoController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DEMO_PAGE;
  }
}
