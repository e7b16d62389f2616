import type { ResourceRef } from "../../policies/errors.js";
import { formatResourceRef } from "../../policies/errors.js";
import { explainRequest, ExplainInputError } from "../../policies/explain/explain.js";
import { Snapshot } from "../../policies/snapshot/schema.js";
import type { ExplainRequest, HistoryEntry, WriteResult } from "../api/schemas.js";
import { resolveKind } from "../api/kinds.js";
import { API_ERROR_STATUS, apiError, type ApiErrorBody, type ApiErrorCode, type ApiErrorDetail } from "../errors.js";
import { diffSets } from "./diff.js";
import {
  blobKey,
  CURRENT_POINTER_KEY,
  DO_MAX_VALUE_BYTES,
  HISTORY_PREFIX,
  historyKey,
  KV_HISTORY_ENTRIES,
  KV_HISTORY_KEY,
  KV_MAX_VALUE_BYTES,
  resourcesKey,
  setKey,
  snapshotKey,
  STATE_KEY,
  WRITE_COUNTS_KEY,
} from "./keys.js";
import { compileSet, planApply, planDelete, planReplace, type Plan } from "./plan.js";
import type { KvStore, StoreStorage } from "./ports.js";
import { readResourceText } from "./read-text.js";
import { canonicalJson, refFromKey, resourceKey, sha256Hex, sortedResources, type ResourceSet, type StoredResource } from "./resource-set.js";
import type { SealedSnapshot } from "./version.js";

/**
 * The config store: one instance owns the resources, the versions and the history, and performs
 * every write one at a time (it runs inside the ConfigStore Durable Object, of which there is
 * exactly one). A write is checked against `If-Match` and compiled as a whole set while no other
 * write can run, then published in the order that keeps every reader safe:
 *
 *   1. KV `config/snapshots/<v>` and `config/resources/<v>` (new keys, immutable)
 *   2. KV `config/current` → v (the pointer gateways follow: from here on they may load v)
 *   3. Durable Object storage, one atomic batch: resource blobs, the set of v, the history entry, state
 *   4. KV `config/history` (a mirror, best effort)
 *
 * A gateway that reads the pointer at any moment finds the complete snapshot it names, old or
 * new. If step 1 or 2 fails nothing has changed (the new keys are unreferenced); if step 3 fails
 * the pointer is moved back. Reads are served from memory, which changes only after step 3.
 */

export interface ConfigStoreOptions {
  storage: StoreStorage;
  kv: KvStore;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: Record<string, unknown>) => void;
}

/** `If-Match`, parsed: `*` or a list of versions. */
export interface IfMatch {
  any: boolean;
  versions: string[];
}

export interface WriteContext {
  author: string;
  ifMatch?: IfMatch;
}

export interface ApplyInput extends WriteContext {
  text: string;
  source?: string;
  prune?: boolean;
  dryRun?: boolean;
}

export type WriteAction = "apply" | "delete" | "rollback";

/**
 * What the store reports about itself for `GET /v1/metrics`. The write counters are kept in its
 * storage (a Durable Object is evicted after idling, and counters that restarted every time
 * would say little), so they count from the day the store was created, or this code deployed.
 */
export interface StoreMetrics {
  version: string | null;
  /** The number of the last history entry: every version ever published, across restarts. */
  historyEntries: number;
  /** When the last history entry was written (ISO 8601), or null. */
  lastWriteAt: string | null;
  /** Resources of the current set, by kind. */
  resources: Record<string, number>;
  /** The current snapshot as published to KV: its JSON size and what it holds. */
  snapshot: { bytes: number; gateways: number; virtualHosts: number; routes: number; clusters: number; endpoints: number } | null;
  /** Writes accepted: `published` made a new version, `unchanged` found it already current. */
  writes: { action: WriteAction; result: "published" | "unchanged"; count: number }[];
  /** Writes refused, by the API error code the caller got. */
  rejected: { action: WriteAction; reason: ApiErrorCode; count: number }[];
}

/** What every store call answers: an HTTP status, the version current after it (the ETag), and the JSON body. */
export type StoreAnswer<T> = { status: 200; version: string | null; body: T } | { status: number; version: string | null; body: ApiErrorBody };

interface State {
  version: string | null;
  seq: number;
}

interface SetRecord {
  entries: [key: string, digest: string][];
  at: string;
}

const SNAPSHOT_CACHE_SIZE = 8;

export class ConfigStoreCore {
  private state: State = { version: null, seq: 0 };
  private resources: ResourceSet = new Map();
  private readonly snapshots = new Map<string, SealedSnapshot>();
  private loaded: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (line: Record<string, unknown>) => void;
  private writeCounts: Record<string, number> = {};
  private readonly snapshotSizes = new Map<string, NonNullable<StoreMetrics["snapshot"]>>();

  constructor(private readonly options: ConfigStoreOptions) {
    this.now = options.now ?? (() => new Date());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.log = options.log ?? ((line) => console.log(JSON.stringify(line)));
  }

  /** Loads the state and the current set from storage (once). */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      const [state, counts] = (await Promise.all([this.options.storage.get(STATE_KEY), this.options.storage.get(WRITE_COUNTS_KEY)])) as [State | undefined, Record<string, number> | undefined];
      this.writeCounts = { ...counts };
      if (state) {
        this.state = state;
        if (state.version !== null) this.resources = (await this.loadSet(state.version)) ?? new Map();
      }
    })().catch((error: unknown) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
  }

  async currentVersion(): Promise<string | null> {
    await this.load();
    return this.state.version;
  }

  // ---- reads ----------------------------------------------------------------------------------

  async listResources(filter: { kind?: string; namespace?: string }): Promise<StoreAnswer<{ version: string | null; items: Record<string, unknown>[] }>> {
    await this.load();
    const kind = filter.kind !== undefined ? resolveKind(filter.kind) : undefined;
    if (filter.kind !== undefined && kind === undefined) return this.fail("bad_request", unknownKind(filter.kind));
    const items = sortedResources(this.resources.values())
      .filter((resource) => (kind === undefined || resource.ref.kind === kind) && (filter.namespace === undefined || resource.ref.namespace === filter.namespace))
      .map((resource) => resource.raw);
    return this.ok({ version: this.state.version, items });
  }

  async getResource(ref: ResourceRef): Promise<StoreAnswer<Record<string, unknown>>> {
    await this.load();
    const kind = resolveKind(ref.kind);
    if (kind === undefined) return this.fail("not_found", unknownKind(ref.kind));
    const found = this.resources.get(resourceKey({ ...ref, kind }));
    if (!found) return this.fail("not_found", `${formatResourceRef({ ...ref, kind })} not found`);
    return this.ok(found.raw);
  }

  async history(limit = 50): Promise<StoreAnswer<{ version: string | null; entries: HistoryEntry[] }>> {
    await this.load();
    return this.ok({ version: this.state.version, entries: await this.recentHistory(limit) });
  }

  async snapshot(version?: string): Promise<StoreAnswer<{ version: string; snapshot: SealedSnapshot }>> {
    await this.load();
    const wanted = version ?? this.state.version;
    if (wanted === null) return this.fail("not_found", "nothing has been applied yet");
    const snapshot = await this.snapshotOf(wanted);
    if (!snapshot) return this.fail("not_found", `version ${wanted} is not in this store's history`);
    return this.ok({ version: wanted, snapshot });
  }

  async diff(from: string, to?: string): Promise<StoreAnswer<{ from: string; to: string; changes: ReturnType<typeof diffSets> }>> {
    await this.load();
    const target = to ?? this.state.version;
    if (target === null) return this.fail("not_found", "nothing has been applied yet");
    const [before, after] = await Promise.all([this.loadSet(from), this.loadSet(target)]);
    if (!before) return this.fail("not_found", `version ${from} is not in this store's history`);
    if (!after) return this.fail("not_found", `version ${target} is not in this store's history`);
    return this.ok({ from, to: target, changes: diffSets(before, after) });
  }

  async explain(input: ExplainRequest): Promise<StoreAnswer<ReturnType<typeof explainRequest>>> {
    await this.load();
    const wanted = input.version ?? this.state.version;
    if (wanted === null) return this.fail("not_found", "nothing has been applied yet: there is no config to explain against");
    const snapshot = await this.snapshotOf(wanted);
    if (!snapshot) return this.fail("not_found", `version ${wanted} is not in this store's history`);
    try {
      return this.ok(explainRequest(snapshot, input.request, input.gatewayLabels ? { labels: input.gatewayLabels } : {}));
    } catch (error) {
      if (error instanceof ExplainInputError) return this.fail("bad_request", error.message);
      throw error;
    }
  }

  /** The same checks as apply, storing nothing. */
  async validate(input: Omit<ApplyInput, "author" | "dryRun" | "ifMatch">): Promise<StoreAnswer<WriteResult>> {
    await this.load();
    return this.applyNow({ ...input, author: "", dryRun: true });
  }

  // ---- writes (one at a time) -----------------------------------------------------------------

  async apply(input: ApplyInput): Promise<StoreAnswer<WriteResult>> {
    await this.load();
    if (input.dryRun) return this.applyNow(input);
    return this.counted("apply", await this.exclusive(() => this.applyNow(input)));
  }

  async delete(ref: ResourceRef, context: WriteContext): Promise<StoreAnswer<WriteResult>> {
    await this.load();
    return this.counted("delete", await this.exclusive(async () => {
      const stale = this.precondition(context.ifMatch);
      if (stale) return stale;
      const kind = resolveKind(ref.kind);
      const key = kind !== undefined ? resourceKey({ ...ref, kind }) : undefined;
      if (key === undefined || !this.resources.has(key)) {
        return this.fail("not_found", kind === undefined ? unknownKind(ref.kind) : `${formatResourceRef({ ...ref, kind })} not found`);
      }
      const plan = await planDelete(this.resources, key);
      if (!plan.ok) {
        return this.fail("conflict", `deleting ${formatResourceRef(refFromKey(key))} would leave the config invalid (${plural(plan.issues.length, "issue")}); nothing was changed`, { issues: plan.issues });
      }
      return this.commit(plan, { action: "delete", author: context.author });
    }));
  }

  async rollback(version: string, context: WriteContext): Promise<StoreAnswer<WriteResult>> {
    await this.load();
    return this.counted("rollback", await this.exclusive(async () => {
      const stale = this.precondition(context.ifMatch);
      if (stale) return stale;
      if (version === this.state.version) return this.ok(unchangedResult(version, []));
      const target = await this.loadSet(version);
      if (!target) return this.fail("not_found", `version ${version} is not in this store's history`);
      const plan = await planReplace(this.resources, [...target.values()]);
      if (plan.ok && plan.version === version) return this.commit(plan, { action: "rollback", author: context.author, rollbackTo: version });
      // The resources of `version` no longer compile to it (the compiler changed since): the
      // immutable snapshot that was published as `version` is what gateways get back.
      const published = await this.kvSnapshot(version);
      if (!published) {
        return this.fail("conflict", `version ${version} cannot be restored: its snapshot is gone from KV and its resources ${plan.ok ? `now compile to ${plan.version}` : "no longer compile"}`, plan.ok ? {} : { issues: plan.issues });
      }
      const changes = diffSets(this.resources, target);
      const of = (kind: string) => changes.filter((change) => change.change === kind).map((change) => change.resource);
      return this.commit(
        { ok: true, version, snapshot: published, resources: new Map(target), summary: { created: of("created"), changed: of("changed"), unchanged: [], deleted: of("deleted") }, changes, warnings: [] },
        { action: "rollback", author: context.author, rollbackTo: version },
      );
    }));
  }

  // ---- metrics --------------------------------------------------------------------------------

  async metrics(): Promise<StoreMetrics> {
    await this.load();
    const version = this.state.version;
    const resources: Record<string, number> = {};
    for (const resource of this.resources.values()) resources[resource.ref.kind] = (resources[resource.ref.kind] ?? 0) + 1;
    const [latest] = await this.recentHistory(1);
    const writes: StoreMetrics["writes"] = [];
    const rejected: StoreMetrics["rejected"] = [];
    for (const [key, count] of Object.entries(this.writeCounts)) {
      const [action, outcome, reason] = key.split("|") as [WriteAction, "published" | "unchanged" | "rejected", ApiErrorCode];
      if (outcome === "rejected") rejected.push({ action, reason, count });
      else writes.push({ action, result: outcome, count });
    }
    return {
      version,
      historyEntries: this.state.seq,
      lastWriteAt: latest?.at ?? null,
      resources,
      snapshot: version === null ? null : await this.snapshotSize(version),
      writes,
      rejected,
    };
  }

  /**
   * Counts a write's outcome (dry runs are not writes and are not counted), in memory at once and
   * in storage after the answer is settled: a failure to save a count never fails the write, and
   * the count is the only thing a refused write leaves in storage.
   */
  private async counted(action: WriteAction, answer: StoreAnswer<WriteResult>): Promise<StoreAnswer<WriteResult>> {
    const key = answer.status === 200 ? `${action}|${(answer.body as WriteResult).changed ? "published" : "unchanged"}` : `${action}|rejected|${(answer.body as ApiErrorBody).error.code}`;
    this.writeCounts[key] = (this.writeCounts[key] ?? 0) + 1;
    await this.options.storage.putMany({ [WRITE_COUNTS_KEY]: { ...this.writeCounts } }).catch((error: unknown) => this.log({ event: "write_count_failed", message: (error as Error).message }));
    return answer;
  }

  private async snapshotSize(version: string): Promise<StoreMetrics["snapshot"]> {
    const known = this.snapshotSizes.get(version);
    if (known) return known;
    const snapshot = await this.snapshotOf(version);
    if (!snapshot) return null;
    const size = {
      bytes: byteLength(JSON.stringify(snapshot)),
      gateways: snapshot.gateways.length,
      virtualHosts: snapshot.virtualHosts.length,
      routes: snapshot.routes.length,
      clusters: Object.keys(snapshot.clusters).length,
      endpoints: Object.values(snapshot.clusters).reduce((sum, cluster) => sum + cluster.endpoints.length, 0),
    };
    this.snapshotSizes.clear(); // only the current version's is asked for
    this.snapshotSizes.set(version, size);
    return size;
  }

  // ---- internals ------------------------------------------------------------------------------

  private async applyNow(input: ApplyInput): Promise<StoreAnswer<WriteResult>> {
    if (!input.dryRun) {
      const stale = this.precondition(input.ifMatch);
      if (stale) return stale;
    }
    const read = readResourceText(input.text, input.source);
    if (!read.ok) return this.fail("invalid_config", `${plural(read.issues.length, "issue")} in the resources sent${input.dryRun ? "" : "; nothing was stored"}`, { issues: read.issues });
    if (read.resources.length === 0) return this.fail("bad_request", "the body holds no resources");
    // Both read before any await: a dry run does not hold the write turn, and must compare with the set it planned on.
    const current = this.resources;
    const previous = this.state.version;
    const plan = await planApply(current, read.resources, { prune: input.prune === true, locate: read.locate });
    if (!plan.ok) return this.fail("invalid_config", `the config after this change would be invalid (${plural(plan.issues.length, "issue")})${input.dryRun ? "" : "; nothing was stored"}`, { issues: plan.issues });
    if (plan.version === previous) return this.ok({ ...unchangedResult(previous, plan.summary.unchanged, input.dryRun === true), warnings: plan.warnings });
    if (input.dryRun) {
      return this.ok({ version: plan.version, previousVersion: previous, changed: true, dryRun: true, resources: plan.summary, changes: plan.changes, warnings: plan.warnings, historySeq: null });
    }
    return this.commit(plan, { action: "apply", author: input.author, ...(input.source !== undefined ? { source: input.source } : {}) });
  }

  private async commit(plan: Extract<Plan, { ok: true }>, entry: Pick<HistoryEntry, "action" | "author" | "source" | "rollbackTo">): Promise<StoreAnswer<WriteResult>> {
    const { storage, kv } = this.options;
    const previous = this.state.version;
    const version = plan.version;
    const resources = sortedResources(plan.resources.values());

    const digests = new Map<string, string>();
    for (const resource of resources) digests.set(resource.key, await sha256Hex(canonicalJson(resource.raw)));
    const setRecord: SetRecord = { entries: resources.map((resource) => [resource.key, digests.get(resource.key)!]), at: this.now().toISOString() };
    const snapshotJson = JSON.stringify(plan.snapshot);
    const resourcesJson = JSON.stringify(resources.map((resource) => resource.raw));
    const tooBig = [
      [snapshotJson, KV_MAX_VALUE_BYTES, "the compiled snapshot", "a Workers KV value (25 MiB)"],
      [resourcesJson, KV_MAX_VALUE_BYTES, "the resource set", "a Workers KV value (25 MiB)"],
      [JSON.stringify(setRecord), DO_MAX_VALUE_BYTES, "the version's index of resources", "a Durable Object value (2 MB)"],
    ].find(([json, limit]) => byteLength(json as string) > (limit as number));
    if (tooBig) return this.fail("payload_too_large", `${tooBig[2]} would be ${mib(byteLength(tooBig[0] as string))}, more than ${tooBig[3]}; nothing was stored`);

    // 1. Immutable keys first: nothing references them yet.
    const known = (await storage.get(setKey(version))) !== undefined;
    try {
      const writes: Promise<void>[] = [];
      if (!known || (await kv.get(snapshotKey(version), "text")) === null) writes.push(this.kvPut(snapshotKey(version), snapshotJson));
      if (!known) writes.push(this.kvPut(resourcesKey(version), resourcesJson));
      await Promise.all(writes);
      // 2. The pointer: from now on gateways may load the new version.
      await this.kvPut(CURRENT_POINTER_KEY, JSON.stringify({ version }));
    } catch (error) {
      this.log({ event: "config_publish_failed", version, step: "kv", message: (error as Error).message });
      return this.fail("unavailable", `writing to Workers KV failed (${(error as Error).message}); nothing was changed, try again`);
    }

    // 3. The store's own record, in one atomic batch.
    const seq = this.state.seq + 1;
    const createdOrChanged = new Set([...plan.summary.created, ...plan.summary.changed].map(resourceKey));
    const history: HistoryEntry = {
      seq,
      version,
      previous,
      at: this.now().toISOString(),
      author: entry.author,
      role: "admin",
      action: entry.action,
      summary: summarize(entry.action, plan.summary, entry.rollbackTo),
      changes: { created: plan.summary.created, changed: plan.summary.changed, deleted: plan.summary.deleted },
      ...(entry.source !== undefined ? { source: entry.source } : {}),
      ...(entry.rollbackTo !== undefined ? { rollbackTo: entry.rollbackTo } : {}),
    };
    const batch: Record<string, unknown> = { [historyKey(seq)]: history, [STATE_KEY]: { version, seq } satisfies State };
    if (!known) {
      batch[setKey(version)] = setRecord;
      // Resources carried over from the current set already have their blob.
      for (const resource of resources) if (createdOrChanged.has(resource.key)) batch[blobKey(digests.get(resource.key)!)] = resource.raw;
    }
    try {
      await storage.putMany(batch);
    } catch (error) {
      this.log({ event: "config_publish_failed", version, step: "store", message: (error as Error).message });
      await (previous !== null ? this.kvPut(CURRENT_POINTER_KEY, JSON.stringify({ version: previous })) : kv.delete(CURRENT_POINTER_KEY)).catch(() => {});
      return this.fail("unavailable", `recording version ${version} failed (${(error as Error).message}); the pointer was moved back to ${previous ?? "nothing"}, try again`);
    }
    this.state = { version, seq };
    this.resources = plan.resources;
    this.cacheSnapshot(plan.snapshot);
    this.log({ event: "config_published", version, previous, action: entry.action, author: entry.author, seq });

    // 4. The KV mirror of the history (the Durable Object holds the record).
    await this.recentHistory(KV_HISTORY_ENTRIES)
      .then((entries) => this.kvPut(KV_HISTORY_KEY, JSON.stringify({ version, entries })))
      .catch((error: unknown) => this.log({ event: "history_mirror_failed", version, message: (error as Error).message }));

    return this.ok({ version, previousVersion: previous, changed: true, dryRun: false, resources: plan.summary, changes: plan.changes, warnings: plan.warnings, historySeq: seq });
  }

  /** `If-Match` is checked inside the write's turn, against the version at that moment. */
  private precondition(ifMatch: IfMatch | undefined): StoreAnswer<never> | undefined {
    if (!ifMatch) return undefined;
    const current = this.state.version;
    const matches = current !== null && (ifMatch.any || ifMatch.versions.includes(current));
    if (matches) return undefined;
    return this.fail("precondition_failed", `the config is at version ${current ?? "(none)"}, not ${ifMatch.any ? "any version" : ifMatch.versions.join(" or ")}: someone changed it since you read it; nothing was changed`, { currentVersion: current });
  }

  /** Runs writes one after another, in arrival order; a failed write does not block the next. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** KV writes are retried: Workers KV allows one write per second per key and answers 429 beyond it. */
  private async kvPut(key: string, value: string): Promise<void> {
    const delays = [1000, 2000];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.kv.put(key, value);
        return;
      } catch (error) {
        const delay = delays[attempt];
        if (delay === undefined) throw error;
        this.log({ event: "kv_put_retry", key, attempt: attempt + 1, message: (error as Error).message });
        await this.sleep(delay);
      }
    }
  }

  private async loadSet(version: string): Promise<Map<string, StoredResource> | undefined> {
    if (version === this.state.version && this.resources.size > 0) return new Map(this.resources);
    const record = (await this.options.storage.get(setKey(version))) as SetRecord | undefined;
    if (!record) return undefined;
    const blobs = new Map<string, unknown>();
    const keys = [...new Set(record.entries.map(([, digest]) => blobKey(digest)))];
    for (let index = 0; index < keys.length; index += 128) {
      for (const [key, value] of await this.options.storage.getMany(keys.slice(index, index + 128))) blobs.set(key, value);
    }
    const set = new Map<string, StoredResource>();
    for (const [key, digest] of record.entries) {
      const raw = blobs.get(blobKey(digest));
      if (raw === undefined) throw new Error(`store is missing resource ${key} (${digest}) of version ${version}`);
      set.set(key, { key, ref: refFromKey(key), raw: raw as Record<string, unknown> });
    }
    return set;
  }

  private async snapshotOf(version: string): Promise<SealedSnapshot | undefined> {
    const cached = this.snapshots.get(version);
    if (cached) return cached;
    const set = await this.loadSet(version);
    if (!set) return undefined;
    const compiled = await compileSet(set);
    const snapshot = compiled.ok && compiled.snapshot.version === version ? compiled.snapshot : await this.kvSnapshot(version);
    if (snapshot) this.cacheSnapshot(snapshot);
    return snapshot;
  }

  private async kvSnapshot(version: string): Promise<SealedSnapshot | undefined> {
    const text = await this.options.kv.get(snapshotKey(version), "text");
    if (text === null) return undefined;
    try {
      const value = JSON.parse(text) as SealedSnapshot;
      return Snapshot.safeParse(value).success && value.version === version ? value : undefined;
    } catch {
      return undefined;
    }
  }

  private cacheSnapshot(snapshot: SealedSnapshot): void {
    this.snapshots.delete(snapshot.version);
    this.snapshots.set(snapshot.version, snapshot);
    while (this.snapshots.size > SNAPSHOT_CACHE_SIZE) this.snapshots.delete(this.snapshots.keys().next().value!);
  }

  private async recentHistory(limit: number): Promise<HistoryEntry[]> {
    const entries = await this.options.storage.list({ prefix: HISTORY_PREFIX, reverse: true, limit });
    return [...entries.values()] as HistoryEntry[];
  }

  private ok<T>(body: T): StoreAnswer<T> {
    return { status: 200, version: this.state.version, body };
  }

  private fail(code: ApiErrorCode, message: string, extra: Omit<ApiErrorDetail, "code" | "message"> = {}): StoreAnswer<never> {
    return { status: API_ERROR_STATUS[code], version: this.state.version, body: apiError(code, message, extra) };
  }
}

function unchangedResult(version: string, unchanged: ResourceRef[], dryRun = false): WriteResult {
  return { version, previousVersion: version, changed: false, dryRun, resources: { created: [], changed: [], unchanged, deleted: [] }, changes: [], warnings: [], historySeq: null };
}

function summarize(action: HistoryEntry["action"], summary: { created: ResourceRef[]; changed: ResourceRef[]; deleted: ResourceRef[] }, rollbackTo?: string): string {
  const parts: string[] = [];
  const list = (refs: ResourceRef[]) => (refs.length <= 3 ? refs.map(formatResourceRef).join(", ") : `${refs.slice(0, 3).map(formatResourceRef).join(", ")} and ${refs.length - 3} more`);
  if (summary.created.length) parts.push(`created ${list(summary.created)}`);
  if (summary.changed.length) parts.push(`changed ${list(summary.changed)}`);
  if (summary.deleted.length) parts.push(`deleted ${list(summary.deleted)}`);
  const what = parts.join("; ") || "no resource changes";
  return action === "rollback" ? `rollback to ${rollbackTo}: ${what}` : what;
}

function unknownKind(kind: string): string {
  return `unknown kind '${kind}' (kinds: Gateway (gw), VirtualService (vs), DestinationRule (dr), ServiceEntry (se))`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
