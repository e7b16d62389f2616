import { z } from "zod";

/** The control worker's bindings (control/wrangler.toml) and its settings, parsed once per isolate. */

export interface ControlBindings {
  /** The config store gateways read (same namespace as the gateways' MESH_CONFIG). */
  MESH_CONFIG: KVNamespace;
  /** The ConfigStore Durable Object namespace (one object, by a fixed name). */
  CONFIG_STORE: DurableObjectNamespace;
  /** Secret: the admin bearer token (read and write). */
  MESH_ADMIN_TOKEN?: string;
  /** Secret, optional: a bearer token for read-only use. */
  MESH_READER_TOKEN?: string;
  MESH_MAX_BODY_BYTES?: string;
  [name: string]: unknown;
}

export const ControlSettings = z.object({
  /** Bodies larger than this are refused with 413 (default 1 MiB). */
  MESH_MAX_BODY_BYTES: z.coerce
    .number({ error: () => "MESH_MAX_BODY_BYTES must be a number" })
    .int("MESH_MAX_BODY_BYTES must be an integer")
    .min(1024, "MESH_MAX_BODY_BYTES must be >= 1024")
    .max(16 * 1024 * 1024, "MESH_MAX_BODY_BYTES must be <= 16 MiB")
    .default(1024 * 1024),
});
export type ControlSettings = z.infer<typeof ControlSettings>;

export function parseControlSettings(env: Record<string, unknown>): ControlSettings {
  const parsed = ControlSettings.safeParse(env);
  if (!parsed.success) throw new TypeError(`invalid control settings: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  return parsed.data;
}

/** The name of the one ConfigStore object. */
export const CONFIG_STORE_NAME = "mesh-config";
