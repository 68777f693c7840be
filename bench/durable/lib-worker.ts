/**
 * The `durable` contender's worker process: the library's BullMQ worker (concurrency from
 * BENCH_CONCURRENCY) running {@link BenchHandler}, in a Nest application context without HTTP.
 */
import { createLibContext } from './lib-context';
import { fail, tell } from './shared';

createLibContext('worker')
  .then(() => tell({ type: 'ready' }))
  .catch(fail);
