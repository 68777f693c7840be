/**
 * Where a stream keeps what a page reload must not lose: the task's resume key and the
 * id of the last event handed to the application. The Web Storage subset, so
 * `sessionStorage` and `localStorage` plug in as they are.
 */
export interface ResumeStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A storage that lives as long as the process (the default outside browsers). */
export function memoryStorage(): ResumeStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

/**
 * `sessionStorage` where there is a usable one (a browser tab: it survives reloads, not
 * the tab), else memory. Private modes and sandboxed frames that throw on access get memory.
 */
export function defaultStorage(): ResumeStorage {
  try {
    const session = (globalThis as { sessionStorage?: ResumeStorage }).sessionStorage;
    if (session) {
      const probe = 'sse-resume:probe';
      session.setItem(probe, '1');
      session.removeItem(probe);
      return session;
    }
  } catch {
    // unusable: fall through
  }
  return memoryStorage();
}

/** The two entries of one task in a storage; writes never throw (a full storage only loses resume). */
export class TaskRecord {
  readonly #keyItem: string;
  readonly #idItem: string;

  readonly #storage: ResumeStorage;

  constructor(storage: ResumeStorage, prefix: string, taskId: string) {
    this.#storage = storage;
    this.#keyItem = `${prefix}${taskId}:key`;
    this.#idItem = `${prefix}${taskId}:id`;
  }

  get resumeKey(): string | undefined {
    return this.#read(this.#keyItem) ?? undefined;
  }

  set resumeKey(key: string | undefined) {
    this.#write(this.#keyItem, key);
  }

  /** The last id handed to the application, if a valid one is stored. */
  get lastEventId(): number | undefined {
    const text = this.#read(this.#idItem) ?? '';
    return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
  }

  set lastEventId(id: number | undefined) {
    this.#write(this.#idItem, id === undefined ? undefined : String(id));
  }

  forget(): void {
    this.#write(this.#keyItem, undefined);
    this.#write(this.#idItem, undefined);
  }

  #read(item: string): string | null {
    try {
      return this.#storage.getItem(item);
    } catch {
      return null;
    }
  }

  #write(item: string, value: string | undefined): void {
    try {
      if (value === undefined) this.#storage.removeItem(item);
      else this.#storage.setItem(item, value);
    } catch {
      // quota or access errors: resume after a reload is lost, the stream goes on
    }
  }
}
