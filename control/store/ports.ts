/**
 * The store's view of its two backends, kept this narrow so the store runs on a Durable Object's
 * storage and Workers KV in workerd, and on in-memory fakes in unit tests.
 */

/** Durable Object storage (see durable-object.ts for the adapter). */
export interface StoreStorage {
  get(key: string): Promise<unknown>;
  getMany(keys: readonly string[]): Promise<Map<string, unknown>>;
  /** Writes every entry in one atomic batch. */
  putMany(entries: Record<string, unknown>): Promise<void>;
  /** Keys with `prefix`, in key order (or reversed), at most `limit`. */
  list(options: { prefix: string; reverse?: boolean; limit?: number }): Promise<Map<string, unknown>>;
}

/** The parts of a Workers KV namespace the store uses. */
export interface KvStore {
  get(key: string, type: "text"): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}
