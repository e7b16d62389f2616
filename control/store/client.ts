import type { ConfigStoreCore } from "./config-store.js";

/**
 * What the API worker calls on the store. In workerd it is the ConfigStore Durable Object's RPC
 * stub (every method returns a Promise of plain, structured-cloneable data); in unit tests it can
 * be a ConfigStoreCore itself.
 */
export type StoreClient = Pick<
  ConfigStoreCore,
  "currentVersion" | "listResources" | "getResource" | "history" | "snapshot" | "diff" | "explain" | "validate" | "apply" | "delete" | "rollback" | "metrics"
>;
