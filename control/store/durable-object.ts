import { DurableObject } from "cloudflare:workers";
import type { ResourceRef } from "../../policies/errors.js";
import type { ExplainRequest } from "../api/schemas.js";
import type { ControlBindings } from "../env.js";
import { ConfigStoreCore, type ApplyInput, type WriteContext } from "./config-store.js";
import type { StoreStorage } from "./ports.js";

/**
 * The one serialisation point of the control plane. Workers KV has no compare-and-swap, so every
 * write goes through this single Durable Object (addressed by a fixed name), which runs one write
 * at a time and checks `If-Match` against the version at that moment. A Durable Object's input
 * gate only holds events while its own storage is being written, not while it awaits KV, so
 * ConfigStoreCore also queues writes itself.
 */
export class ConfigStore extends DurableObject<ControlBindings> {
  private readonly core: ConfigStoreCore;

  constructor(ctx: DurableObjectState, env: ControlBindings) {
    super(ctx, env);
    this.core = new ConfigStoreCore({ storage: durableStorage(ctx.storage), kv: env.MESH_CONFIG });
    void ctx.blockConcurrencyWhile(() => this.core.load());
  }

  currentVersion() {
    return this.core.currentVersion();
  }
  listResources(filter: { kind?: string; namespace?: string }) {
    return this.core.listResources(filter);
  }
  getResource(ref: ResourceRef) {
    return this.core.getResource(ref);
  }
  history(limit?: number) {
    return this.core.history(limit);
  }
  snapshot(version?: string) {
    return this.core.snapshot(version);
  }
  diff(from: string, to?: string) {
    return this.core.diff(from, to);
  }
  explain(input: ExplainRequest) {
    return this.core.explain(input);
  }
  validate(input: Omit<ApplyInput, "author" | "dryRun" | "ifMatch">) {
    return this.core.validate(input);
  }
  apply(input: ApplyInput) {
    return this.core.apply(input);
  }
  delete(ref: ResourceRef, context: WriteContext) {
    return this.core.delete(ref, context);
  }
  rollback(version: string, context: WriteContext) {
    return this.core.rollback(version, context);
  }
  metrics() {
    return this.core.metrics();
  }
}

/** The Durable Object storage API, narrowed to StoreStorage. */
export function durableStorage(storage: DurableObjectStorage): StoreStorage {
  return {
    get: (key) => storage.get(key),
    getMany: (keys) => storage.get([...keys]),
    async putMany(entries) {
      // put() takes at most 128 keys. Writes issued with no await between them are committed as
      // one atomic batch (Durable Objects' automatic write coalescing).
      const pairs = Object.entries(entries);
      const writes: Promise<void>[] = [];
      for (let index = 0; index < pairs.length; index += 128) writes.push(storage.put(Object.fromEntries(pairs.slice(index, index + 128))));
      await Promise.all(writes);
    },
    list: (options) => storage.list(options),
  };
}
