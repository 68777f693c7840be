/**
 * Test kit for store authors, the `nest-sse-resume/testing` entry point: the contract suite
 * every `TaskStore` must pass, runnable with any test runner that has describe/it/hooks.
 *
 * @module nest-sse-resume/testing
 */
export {
  describeTaskStoreContract,
  type TaskStoreContractOptions,
  type TestRunnerFunctions,
} from './testing/task-store-contract';
