import { z } from "zod";
import { createRoutingTable } from "../../policies/routing/match-route.js";
import { CURRENT_POINTER_KEY, snapshotKey } from "../../policies/snapshot/kv-layout.js";
import { Snapshot } from "../../policies/snapshot/schema.js";
import type { LoadedConfig } from "../context.js";
import type { KvReader } from "../env.js";
import { ClusterStates } from "../upstream/cluster-state.js";

/**
 * Where the gateway's snapshot comes from: the KV pointer, then the immutable snapshot it names.
 * The loaded snapshot is cached in the isolate for `ttlMs`; when the cache is stale, the next
 * request refreshes it. A request captures one LoadedConfig and uses it to the end, so a swap
 * never mixes versions. If KV fails or holds something invalid, the last good snapshot stays.
 */

const Pointer = z.object({ version: z.string().min(1) });

export interface SnapshotSourceOptions {
  ttlMs: number;
  labels: Readonly<Record<string, string>>;
  log?: (line: Record<string, unknown>) => void;
}

export class SnapshotSource {
  private current: LoadedConfig | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  lastError: string | undefined;
  /** When the served snapshot was last confirmed current (the pointer read and naming it), ms since epoch. */
  refreshedAtMs: number | undefined;

  constructor(private readonly options: SnapshotSourceOptions) {}

  get version(): string | undefined {
    return this.current?.table.snapshot.version;
  }

  /**
   * The config to serve this request with. With nothing loaded yet the caller waits for KV;
   * otherwise a stale cache is refreshed first (KV reads are fast and cached at the edge), so
   * that a pushed version is served within one TTL.
   */
  async get(kv: KvReader, now: number): Promise<LoadedConfig | undefined> {
    // Until a snapshot is loaded every request reads KV itself: in Workers a request should not
    // wait on I/O started by another request.
    if (this.current === undefined || now - this.checkedAt >= this.options.ttlMs) {
      this.checkedAt = now;
      await this.refresh(kv);
    }
    return this.current;
  }

  private async refresh(kv: KvReader): Promise<void> {
    try {
      const pointerText = await kv.get(CURRENT_POINTER_KEY, "text");
      if (pointerText === null) {
        this.fail("no config in KV yet (key config/current is missing)");
        return;
      }
      const pointer = Pointer.safeParse(safeJson(pointerText));
      if (!pointer.success) {
        this.fail(`invalid pointer at ${CURRENT_POINTER_KEY}: ${pointer.error.issues[0]?.message ?? "not JSON"}`);
        return;
      }
      if (pointer.data.version === this.version) {
        // Back on (or still at) the version being served, e.g. after a rollback: nothing is wrong.
        this.lastError = undefined;
        this.refreshedAtMs = this.checkedAt;
        return;
      }
      const snapshotText = await kv.get(snapshotKey(pointer.data.version), "text");
      if (snapshotText === null) {
        this.fail(`snapshot ${pointer.data.version} named by the pointer is missing`);
        return;
      }
      const snapshot = Snapshot.safeParse(safeJson(snapshotText));
      if (!snapshot.success) {
        const issue = snapshot.error.issues[0];
        this.fail(`snapshot ${pointer.data.version} is invalid: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "not JSON"}`);
        return;
      }
      if (snapshot.data.version !== pointer.data.version) {
        this.fail(`snapshot under ${pointer.data.version} says it is version ${snapshot.data.version}`);
        return;
      }
      const table = createRoutingTable(snapshot.data, this.options.labels);
      const clusters = new ClusterStates(snapshot.data.clusters, this.current?.clusters);
      const previous = this.version;
      this.current = { table, clusters };
      this.lastError = undefined;
      this.refreshedAtMs = this.checkedAt;
      this.options.log?.({ event: "config_swapped", from: previous ?? null, to: snapshot.data.version });
    } catch (error) {
      this.fail(`reading KV failed: ${(error as Error).message}`);
    }
  }

  private fail(reason: string): void {
    if (reason !== this.lastError) {
      this.options.log?.({ event: "config_load_failed", reason, serving: this.version ?? null });
    }
    this.lastError = reason;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
