import { Injectable } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { UnknownTaskHandlerError } from '../errors';
import type { DurableTaskHandler } from '../interfaces/durable-task.interface';
import { TaskHandler } from './task-handler.decorator';
import { TaskHandlerRegistry } from './task-handler-registry';

@TaskHandler('export')
@Injectable()
class ExportHandler implements DurableTaskHandler<{ n: number }, number> {
  run(input: { n: number }): number {
    return input.n;
  }
}

@TaskHandler('export')
@Injectable()
class OtherExportHandler implements DurableTaskHandler {
  run(): void {}
}

@TaskHandler('nothing')
@Injectable()
class NoRunMethod {}

@Injectable()
class PlainService {}

async function boot(providers: (new () => object)[]): Promise<TaskHandlerRegistry> {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    providers: [TaskHandlerRegistry, ...providers],
  }).compile();
  await moduleRef.init();
  return moduleRef.get(TaskHandlerRegistry);
}

describe('TaskHandlerRegistry', () => {
  it('finds @TaskHandler providers by name and ignores the others', async () => {
    const registry = await boot([ExportHandler, PlainService]);
    expect(registry.names).toEqual(['export']);
    expect(registry.get('export')).toBeInstanceOf(ExportHandler);
    expect(registry.find('pdf')).toBeUndefined();
  });

  it('throws UnknownTaskHandlerError listing the known names', async () => {
    const registry = await boot([ExportHandler]);
    expect(() => registry.get('pdf')).toThrow(UnknownTaskHandlerError);
    expect(() => registry.get('pdf')).toThrow('(known: "export")');
  });

  it('fails the boot on a duplicate name, naming both classes', async () => {
    await expect(boot([ExportHandler, OtherExportHandler])).rejects.toThrow(
      'two task handlers are named "export" (ExportHandler and OtherExportHandler)',
    );
  });

  it('fails the boot for a handler without run()', async () => {
    await expect(boot([NoRunMethod])).rejects.toThrow(
      "@TaskHandler('nothing') on NoRunMethod: the class has no run",
    );
  });

  it('refuses a bad name at decoration', () => {
    expect(() => TaskHandler('')).toThrow('@TaskHandler(name): name must be 1-100 characters');
    expect(() => TaskHandler('a b')).toThrow(TypeError);
  });
});
