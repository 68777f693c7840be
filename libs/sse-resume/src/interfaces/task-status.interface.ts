/** Life cycle of a task: `running`, then exactly one of the three terminal states. */
export type TaskStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** The states a task can end in. */
export type TerminalStatus = Exclude<TaskStatus, 'running'>;

export const TERMINAL_STATUSES: readonly TerminalStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminalStatus(value: unknown): value is TerminalStatus {
  return value === 'completed' || value === 'failed' || value === 'cancelled';
}
