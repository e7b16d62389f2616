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
  /** Gateways whose /__mesh/metrics the dashboard reads: comma-separated origins (npm start sets the local one). */
  MESH_GATEWAY_URLS?: string;
  /** Secret, optional: the gateways' MESH_METRICS_TOKEN, sent when reading their metrics. */
  MESH_GATEWAY_METRICS_TOKEN?: string;
  /** Optional service binding to the gateway worker (on Cloudflare, how one Worker reaches another). */
  MESH_GATEWAY?: Fetcher;
  /** Secret, optional (the mesh CA): the signing CA's private key, PKCS#8 PEM (EC P-256/P-384). */
  MESH_CA_KEY?: string;
  /** The mesh CA's certificate, PEM, then any certificates up to the root (the last one is the published trust anchor). */
  MESH_CA_CERT?: string;
  /** Secret, optional (the mesh CA): the JWT-SVID signing key, PKCS#8 PEM (EC P-256). */
  MESH_JWT_SVID_KEY?: string;
  [name: string]: unknown;
}

/** An optional secret holding a PEM block with `label`; empty counts as unset. */
function PemText(name: string, label: string) {
  return z
    .string()
    .optional()
    .transform((text) => (text === undefined || text.trim() === "" ? undefined : text.replace(/\\n/g, "\n")))
    .refine((text) => text === undefined || text.includes(`-----BEGIN ${label}-----`), { message: `${name} must be PEM text with a ${label} block` });
}

export const ControlSettings = z.object({
  /** Bodies larger than this are refused with 413 (default 1 MiB). */
  MESH_MAX_BODY_BYTES: z.coerce
    .number({ error: () => "MESH_MAX_BODY_BYTES must be a number" })
    .int("MESH_MAX_BODY_BYTES must be an integer")
    .min(1024, "MESH_MAX_BODY_BYTES must be >= 1024")
    .max(16 * 1024 * 1024, "MESH_MAX_BODY_BYTES must be <= 16 MiB")
    .default(1024 * 1024),
  /** Parsed into origins; at most 10 (one scrape each per dashboard refresh). */
  MESH_GATEWAY_URLS: z
    .string()
    .default("")
    .transform((text, context) => {
      const urls = text
        .split(",")
        .map((url) => url.trim())
        .filter(Boolean);
      for (const url of urls) {
        if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
          context.addIssue({ code: "custom", message: `MESH_GATEWAY_URLS: '${url}' is not an http(s) URL` });
          return z.NEVER;
        }
      }
      if (urls.length > 10) {
        context.addIssue({ code: "custom", message: `MESH_GATEWAY_URLS names ${urls.length} gateways; at most 10` });
        return z.NEVER;
      }
      return urls.map((url) => new URL(url).origin);
    }),
  /** The mesh CA's secrets: all three or none (without them /v1/bundle and /v1/svid/* answer 503). */
  MESH_CA_KEY: PemText("MESH_CA_KEY", "PRIVATE KEY"),
  MESH_CA_CERT: PemText("MESH_CA_CERT", "CERTIFICATE"),
  MESH_JWT_SVID_KEY: PemText("MESH_JWT_SVID_KEY", "PRIVATE KEY"),
}).superRefine((settings, context) => {
  const given = (["MESH_CA_KEY", "MESH_CA_CERT", "MESH_JWT_SVID_KEY"] as const).filter((name) => settings[name] !== undefined);
  if (given.length > 0 && given.length < 3) context.addIssue({ code: "custom", message: `the mesh CA needs MESH_CA_KEY, MESH_CA_CERT and MESH_JWT_SVID_KEY together (only ${given.join(", ")} set)` });
});
export type ControlSettings = z.infer<typeof ControlSettings>;

export function parseControlSettings(env: Record<string, unknown>): ControlSettings {
  const parsed = ControlSettings.safeParse(env);
  if (!parsed.success) throw new TypeError(`invalid control settings: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  return parsed.data;
}

/** The name of the one ConfigStore object. */
export const CONFIG_STORE_NAME = "mesh-config";
