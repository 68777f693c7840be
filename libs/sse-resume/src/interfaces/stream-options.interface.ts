import type { TaskRecord } from './task-store.interface';

/** Who may read a task: the resume key handed out by `start()`. */
export interface TaskAccess {
  /** A missing key (`undefined`) is refused like a wrong one (403). */
  resumeKey: string | undefined;
}

export interface StreamOptions extends TaskAccess {
  /** Resume after this event id (the client's `Last-Event-ID`); omitted = the start of the retained history. */
  lastEventId?: number;
  /** A name for this subscriber in `getTaskInfo().subscriberIds`; random when omitted. */
  subscriberId?: string;
}

/** What a stream's access check resolves to: the task as read, and where the stream resumes. */
export interface AuthorizedStream {
  task: TaskRecord;
  resumePoint: number;
}
