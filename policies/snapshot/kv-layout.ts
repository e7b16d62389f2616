/**
 * Where snapshots live in the config store (Workers KV, binding `MESH_CONFIG`). Snapshots are
 * immutable and keyed by version; a small pointer names the current one. A writer stores the
 * snapshot first and moves the pointer last, so a reader that follows the pointer always finds
 * a complete snapshot.
 */
export const CURRENT_POINTER_KEY = "config/current";

export function snapshotKey(version: string): string {
  return `config/snapshots/${version}`;
}
