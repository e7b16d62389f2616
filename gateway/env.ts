import { z } from "zod";
import { MAX_CLOCK_SKEW_MS } from "../policies/identity/clock.js";
import { isSpiffeId } from "../policies/identity/spiffe-id.js";
import { ACCESS_LOG_FIELDS } from "../policies/telemetry/access-log.js";
import { compileAccessLogFilter } from "../policies/telemetry/access-log-filter.js";

/** The gateway's bindings and settings, parsed once per isolate from `env` (wrangler.toml `[vars]`). */

export interface KvReader {
  get(key: string, type: "text"): Promise<string | null>;
}

const Labels = z
  .string()
  .default("istio=ingressgateway")
  .transform((text, ctx) => {
    const labels: Record<string, string> = {};
    for (const pair of text.split(",").map((item) => item.trim()).filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) {
        ctx.addIssue({ code: "custom", message: `MESH_GATEWAY_LABELS: '${pair}' is not key=value` });
        return z.NEVER;
      }
      labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return labels;
  });

const Flag = z
  .union([z.boolean(), z.enum(["true", "false", "1", "0", ""])])
  .default(false)
  .transform((value) => value === true || value === "true" || value === "1");

const PositiveInt = (name: string, fallback: number) =>
  z.preprocess((value) => (value === "" ? undefined : value), z.coerce
    .number({ error: () => `${name} must be a number` })
    .int(`${name} must be an integer`)
    .min(0, `${name} must be >= 0`)
    .default(fallback));

/** Metrics, tracing and access-log settings (docs/observability.md). */
const Text = z.preprocess((value) => (value === "" ? undefined : value), z.string().optional());
const Percent = (name: string, fallback: number) =>
  z.preprocess((value) => (value === "" ? undefined : value), z.coerce
    .number({ error: () => `${name} must be a number` })
    .min(0, `${name} must be between 0 and 100`)
    .max(100, `${name} must be between 0 and 100`)
    .default(fallback));
const List = (name: string, allowed: readonly string[], fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const items = text.split(",").map((item) => item.trim()).filter(Boolean);
      for (const item of items) {
        if (!allowed.includes(item)) {
          ctx.addIssue({ code: "custom", message: `${name}: unknown '${item}' (one of: ${allowed.join(", ")})` });
          return z.NEVER;
        }
      }
      return items;
    });
const Endpoint = z.preprocess(
  (value) => (value === "" ? undefined : value),
  z.url({ protocol: /^https?$/, error: () => "MESH_OTLP_ENDPOINT must be an http(s) URL" }).optional(),
);

const ObservabilitySettings = {
  /** When set, `GET /__mesh/metrics` answers only `Authorization: Bearer <token>`. */
  MESH_METRICS_TOKEN: Text,
  /** Istio reports to make: `source` (the gateway's own) and `destination` (for upstreams without a proxy). */
  MESH_METRICS_REPORTERS: List("MESH_METRICS_REPORTERS", ["source", "destination"], "source,destination"),
  /** The gateway's workload as metrics and spans name it (Istio: source_workload, its namespace, its cluster). */
  MESH_WORKLOAD_NAME: z.string().min(1).default("istio-ingressgateway"),
  MESH_WORKLOAD_NAMESPACE: z.string().min(1).default("istio-system"),
  MESH_CLUSTER_ID: z.string().min(1).default("edge"),
  /** Percent of new traces sampled (a caller's decision is always followed). Istio's default is 1; the edge starts most traces, so 100. */
  MESH_TRACE_SAMPLING: Percent("MESH_TRACE_SAMPLING", 100),
  /** OTLP/HTTP JSON traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`; none: spans are not exported. */
  MESH_OTLP_ENDPOINT: Endpoint,
  /** Extra headers for the collector, `name=value,name2=value2` (e.g. its API key); never logged. */
  MESH_OTLP_HEADERS: Text,
  /** Percent of requests that get an access-log line. */
  MESH_ACCESS_LOG_SAMPLING: Percent("MESH_ACCESS_LOG_SAMPLING", 100),
  /** Comma-separated access-log fields to keep (default: all). */
  MESH_ACCESS_LOG_FIELDS: Text.refine(
    (text) => text === undefined || text.split(",").every((field) => (ACCESS_LOG_FIELDS as readonly string[]).includes(field.trim())),
    { message: `MESH_ACCESS_LOG_FIELDS: each field must be one of ${ACCESS_LOG_FIELDS.join(", ")}` },
  ),
  /** Istio Telemetry `accessLogging` filter: a CEL expression, e.g. `response.code >= 400`. */
  MESH_ACCESS_LOG_FILTER: Text.superRefine((text, ctx) => {
    if (text === undefined) return;
    try {
      compileAccessLogFilter(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: `MESH_ACCESS_LOG_FILTER: ${(error as Error).message}` });
    }
  }),
};

/** An optional secret: empty means unset. A set one must be long enough not to be guessed. */
const Secret = (name: string) =>
  z.preprocess(
    (value) => (value === "" ? undefined : value),
    z.string().min(16, `${name} must be at least 16 characters (use a random value, e.g. openssl rand -hex 32)`).optional(),
  );

const Fingerprints = z
  .string()
  .default("")
  .transform((text, ctx) => {
    const out = new Set<string>();
    for (const item of text.split(",").map((entry) => entry.trim().toLowerCase().replace(/:/g, "")).filter(Boolean)) {
      if (!/^[0-9a-f]{64}$/.test(item)) {
        ctx.addIssue({ code: "custom", message: `MESH_TRUSTED_PROXY_CERT_SHA256: '${item}' is not a SHA-256 fingerprint (64 hex digits)` });
        return z.NEVER;
      }
      out.add(item);
    }
    return out;
  });

/** Identity settings (docs/security.md). */
const SecuritySettings = {
  /**
   * The secret a trusted front proxy sends in `x-mesh-proxy-auth` (a Workers secret:
   * `wrangler secret put MESH_PROXY_SECRET`; an environment variable for `npm start`). Unset: no
   * front proxy is trusted by secret.
   */
  MESH_PROXY_SECRET: Secret("MESH_PROXY_SECRET"),
  /** SHA-256 fingerprints of front proxies' client certificates, trusted when the platform verified them (comma-separated). */
  MESH_TRUSTED_PROXY_CERT_SHA256: Fingerprints,
  /**
   * Whether `request.cf.tlsClientAuth` (the platform's mTLS, and a front proxy's certificate
   * fingerprint) is believed: `on` for the ingress, which the internet reaches through
   * Cloudflare's edge; `off` for the egress, whose callers come through service bindings, where a
   * caller worker could set `cf` on the request it sends.
   */
  MESH_PLATFORM_MTLS: z.preprocess((value) => (value === "" ? undefined : value), z.enum(["on", "off"], { error: () => "MESH_PLATFORM_MTLS must be on or off" }).default("on")),
  /** The gateway's own SPIFFE ID (XFCC `By`, JWT-SVID audience); default `spiffe://<trustDomain>/ns/<rootNamespace>/sa/istio-ingressgateway-service-account`. */
  MESH_GATEWAY_SPIFFE_ID: z.preprocess((value) => (value === "" ? undefined : value), z.string().refine(isSpiffeId, "MESH_GATEWAY_SPIFFE_ID must be a SPIFFE ID").optional()),
  /**
   * The mesh CA's JWT-SVID signing key (PKCS#8 PEM, EC P-256; the control worker's secret of the
   * same name). Only the egress uses it: to mint JWT-SVIDs for callers (EgressCredential
   * workloadIdentity). Unset: such calls are answered 503.
   */
  MESH_JWT_SVID_KEY: z
    .string()
    .optional()
    .transform((text) => (text === undefined || text.trim() === "" ? undefined : text.replace(/\\n/g, "\n")))
    .refine((text) => text === undefined || text.includes("-----BEGIN PRIVATE KEY-----"), { message: "MESH_JWT_SVID_KEY must be PEM text with a PRIVATE KEY block (PKCS#8)" }),
  /** Clock skew tolerated on certificates and tokens, at most 5 minutes. */
  MESH_CLOCK_SKEW_MS: z.preprocess(
    (value) => (value === "" ? undefined : value),
    z.coerce.number().int().min(0).max(MAX_CLOCK_SKEW_MS, `MESH_CLOCK_SKEW_MS must be at most ${MAX_CLOCK_SKEW_MS}`).default(60_000),
  ),
};

export const GatewaySettings = z.object({
  MESH_GATEWAY_LABELS: Labels,
  MESH_CONFIG_TTL_MS: PositiveInt("MESH_CONFIG_TTL_MS", 5000),
  MESH_DEBUG_HEADERS: Flag,
  /** Request bodies up to this many bytes are buffered so a retry or a mirror can replay them. */
  MESH_MAX_BUFFERED_BODY_BYTES: PositiveInt("MESH_MAX_BUFFERED_BODY_BYTES", 1024 * 1024),
  MESH_ACCESS_LOG: z.enum(["on", "off"]).default("on"),
  ...ObservabilitySettings,
  ...SecuritySettings,
});
export type GatewaySettings = z.infer<typeof GatewaySettings>;

export interface GatewayBindings {
  MESH_CONFIG: KvReader;
  [name: string]: unknown;
}

export function parseGatewaySettings(env: Record<string, unknown>): GatewaySettings {
  const parsed = GatewaySettings.safeParse(env);
  if (!parsed.success) {
    throw new TypeError(`invalid gateway settings: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  }
  return parsed.data;
}
