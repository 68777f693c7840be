import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

/** Body of `POST /tasks`. */
export interface CreateTaskDto {
  /** Progress events to emit, 1..100 000. Default 10. */
  steps: number;
  /** Pause before each event, 0..60 000 ms. Default 500. */
  intervalMs: number;
  /** Extra characters in each event's `payload`, 0..1 048 576. Default 0. */
  payloadBytes: number;
  /** Fail at this step (before emitting it). */
  failAt?: number;
  /** Run as a durable task (a BullMQ job any worker may run; needs Redis). Default false. */
  durable: boolean;
}

/** What the demo task itself reads (the input of a durable one). */
export type DemoTaskInput = Omit<CreateTaskDto, 'durable'>;

const FIELDS: Record<keyof DemoTaskInput, { min: number; max: number; fallback?: number }> = {
  steps: { min: 1, max: 100_000, fallback: 10 },
  intervalMs: { min: 0, max: 60_000, fallback: 500 },
  payloadBytes: { min: 0, max: 1_048_576, fallback: 0 },
  failAt: { min: 0, max: 100_000 },
};

/** Validates the body by hand: a JSON object of known integer fields within range. */
@Injectable()
export class CreateTaskPipe implements PipeTransform<unknown, CreateTaskDto> {
  transform(body: unknown): CreateTaskDto {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestException('the body must be a JSON object');
    }
    const input = body as Record<string, unknown>;
    const problems: string[] = [];
    for (const key of Object.keys(input)) {
      // Own keys only: `key in FIELDS` would accept toString, constructor, __proto__ ...
      if (!Object.hasOwn(FIELDS, key) && key !== 'durable') problems.push(`unknown property ${key}`);
    }
    const out: Partial<CreateTaskDto> = { durable: false };
    if (input.durable !== undefined) {
      if (typeof input.durable === 'boolean') out.durable = input.durable;
      else problems.push('durable must be true or false');
    }
    for (const [name, rule] of Object.entries(FIELDS) as [keyof DemoTaskInput, (typeof FIELDS)['steps']][]) {
      const value = input[name];
      if (value === undefined) {
        if (rule.fallback !== undefined) out[name] = rule.fallback;
        continue;
      }
      if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
        problems.push(`${name} must be an integer from ${rule.min} to ${rule.max}`);
        continue;
      }
      out[name] = value;
    }
    if (problems.length > 0) throw new BadRequestException(problems);
    return out as CreateTaskDto;
  }
}
