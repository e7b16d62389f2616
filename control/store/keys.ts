import { CURRENT_POINTER_KEY, snapshotKey } from "../../policies/snapshot/kv-layout.js";

/**
 * Where the control plane keeps things.
 *
 * Workers KV (`MESH_CONFIG`), read by gateways and tools; the layout of
 * policies/snapshot/kv-layout.ts plus two mirrors:
 *   config/snapshots/<version>   the sealed snapshot (immutable)
 *   config/resources/<version>   the resource set it was compiled from, as JSON (immutable)
 *   config/current               {"version": ...}: the one pointer gateways follow, written last
 *   config/history               the most recent history entries (a mirror; rewritten per write)
 *
 * The ConfigStore Durable Object's storage, the source of truth that serialises writes:
 *   state                        {version, seq}: the current version and the last history number
 *   set:<version>                the resource keys of a version and the digest of each resource
 *   blob:<sha256>                one resource's raw JSON, stored once however many versions share it
 *   history:<seq, 12 digits>     one history entry
 *   metrics:writes               writes accepted and refused, by action and outcome (for /v1/metrics)
 */

export { CURRENT_POINTER_KEY, snapshotKey };

export const KV_HISTORY_KEY = "config/history";

export function resourcesKey(version: string): string {
  return `config/resources/${version}`;
}

export const STATE_KEY = "state";
export const setKey = (version: string) => `set:${version}`;
export const blobKey = (digest: string) => `blob:${digest}`;
export const HISTORY_PREFIX = "history:";
export const WRITE_COUNTS_KEY = "metrics:writes";
export const historyKey = (seq: number) => `${HISTORY_PREFIX}${String(seq).padStart(12, "0")}`;

/** Workers KV's value size limit. */
export const KV_MAX_VALUE_BYTES = 25 * 1024 * 1024;
/** A Durable Object's (SQLite-backed) limit for one key plus value, with room for the key. */
export const DO_MAX_VALUE_BYTES = 2 * 1024 * 1024 - 4096;
/** How many history entries config/history mirrors. */
export const KV_HISTORY_ENTRIES = 100;
