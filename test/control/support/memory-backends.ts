import type { KvStore, StoreStorage } from "../../../control/store/ports.js";

/**
 * In-memory stand-ins for a Durable Object's storage and a KV namespace, for unit tests of the
 * store in plain Node. Both record every write, in order, in one shared log, and can be told to
 * fail, so tests can check the order of publication and what a failure leaves behind.
 */

export interface WriteLog {
  /** The config's writes (resources, versions, history, pointer), in order. */
  entries: string[];
  /** The store's own write counters (`metrics:writes`, for /v1/metrics), kept apart so `entries` says what a write did to the config. */
  bookkeeping?: string[];
}

export class MemoryStorage implements StoreStorage {
  readonly data = new Map<string, unknown>();
  failNextPut: Error | undefined;

  constructor(private readonly log: WriteLog = { entries: [] }) {}

  async get(key: string): Promise<unknown> {
    return clone(this.data.get(key));
  }

  async getMany(keys: readonly string[]): Promise<Map<string, unknown>> {
    const found = new Map<string, unknown>();
    for (const key of keys) if (this.data.has(key)) found.set(key, clone(this.data.get(key)));
    return found;
  }

  async putMany(entries: Record<string, unknown>): Promise<void> {
    await Promise.resolve();
    if (this.failNextPut) {
      const error = this.failNextPut;
      this.failNextPut = undefined;
      throw error;
    }
    for (const [key, value] of Object.entries(entries)) this.data.set(key, clone(value));
    const keys = Object.keys(entries).sort();
    if (keys.every((key) => key.startsWith("metrics:"))) (this.log.bookkeeping ??= []).push(`do:${keys.join(",")}`);
    else this.log.entries.push(`do:${keys.join(",")}`);
  }

  async list(options: { prefix: string; reverse?: boolean; limit?: number }): Promise<Map<string, unknown>> {
    let keys = [...this.data.keys()].filter((key) => key.startsWith(options.prefix)).sort();
    if (options.reverse) keys.reverse();
    if (options.limit !== undefined) keys = keys.slice(0, options.limit);
    return new Map(keys.map((key) => [key, clone(this.data.get(key))]));
  }
}

export class MemoryKv implements KvStore {
  readonly data = new Map<string, string>();
  /** Fails this many of the next puts to the key. */
  readonly failures = new Map<string, number>();

  constructor(private readonly log: WriteLog = { entries: [] }) {}

  async get(key: string): Promise<string | null> {
    return this.data.get(key) ?? null;
  }

  async put(key: string, value: string): Promise<void> {
    await Promise.resolve();
    const failures = this.failures.get(key) ?? 0;
    if (failures > 0) {
      this.failures.set(key, failures - 1);
      throw new Error("KV PUT failed: 429 Too Many Requests");
    }
    this.data.set(key, value);
    this.log.entries.push(`kv:${key}`);
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
    this.log.entries.push(`kv-delete:${key}`);
  }
}

function clone<T>(value: T): T {
  return value === undefined ? value : (structuredClone(value) as T);
}
