import { contentVersion } from "../../policies/snapshot/hash.js";
import type { Snapshot } from "../../policies/snapshot/schema.js";

/**
 * The one identifier of a config version: the content hash of the snapshot the control plane
 * stores. The compiler's own hash covers only what it compiled, and some edits do not reach the
 * compiled form (an annotation, a subset no route uses yet, a ServiceEntry no route reaches).
 * If two different resource sets shared a version, `If-Match` could not tell them apart and one
 * writer could overwrite another's edit unseen. So the stored snapshot carries the digest of its
 * source set, and its version hashes both: equal sets still get equal versions, and any stored
 * change gets a new one. Gateways read `version` and ignore `source` (the Snapshot schema strips
 * unknown keys).
 */

export interface SnapshotSource {
  /** SHA-256 of the canonical JSON of the resource set (resource-set.ts). */
  digest: string;
  /** The compiler's hash of the compiled body alone. */
  compiledVersion: string;
}

export type SealedSnapshot = Snapshot & { source: SnapshotSource };

export async function sealSnapshot(compiled: Snapshot, sourceDigest: string): Promise<SealedSnapshot> {
  const version = await contentVersion(`${compiled.version}\n${sourceDigest}`);
  return { ...compiled, version, source: { digest: sourceDigest, compiledVersion: compiled.version } };
}
