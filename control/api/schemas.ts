import { z } from "zod";
import { Explanation, ExplainRequestInput } from "../../policies/explain/schema.js";
import { DestinationRuleResource, GatewayResource, ServiceEntryResource, VirtualServiceResource } from "../../policies/resources/resource.js";
import type { ConfigErrorCode } from "../../policies/errors.js";
import { Snapshot } from "../../policies/snapshot/schema.js";
import { API_ERROR_STATUS } from "../errors.js";

/**
 * The control API's bodies, as zod schemas: the requests are validated with them and the
 * OpenAPI document (openapi.ts) is generated from them. Resource bodies are read by the loader
 * of policies/ (YAML or JSON, with line and column in every error) and validated by the
 * resource schemas there.
 */

export const ResourceRef = z.object({ kind: z.string(), namespace: z.string(), name: z.string() }).meta({ id: "ResourceRef" });

export const ConfigIssue = z
  .object({
    // Typed as policies/errors.ts's codes; described as a string so new codes need no schema change.
    code: z
      .string()
      .describe("ERR_CONFIG_PARSE, ERR_CONFIG_SCHEMA, ERR_CONFIG_UNSUPPORTED_FIELD, ERR_CONFIG_UNKNOWN_KIND, ERR_CONFIG_DUPLICATE, ERR_CONFIG_REFERENCE, ERR_CONFIG_CONFLICT, ERR_CONFIG_WEIGHTS; WARN_* for warnings") as unknown as z.ZodType<ConfigErrorCode>,
    resource: ResourceRef.optional(),
    path: z.string().describe("dotted field path inside the resource, e.g. spec.http[0].route[1].weight"),
    message: z.string(),
    source: z.object({ file: z.string().optional(), document: z.number().optional(), line: z.number().optional(), column: z.number().optional() }).optional(),
  })
  .meta({ id: "ConfigIssue" });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(API_ERROR_STATUS) as [keyof typeof API_ERROR_STATUS, ...(keyof typeof API_ERROR_STATUS)[]]),
      message: z.string(),
      issues: z.array(ConfigIssue).optional(),
      currentVersion: z.string().nullable().optional(),
      allowed: z.array(z.string()).optional(),
      reason: z.string().optional().describe("mesh CA refusals: ERR_CA_SPIFFE_ID_INVALID, ERR_CA_SPIFFE_ID_TRUST_DOMAIN, ERR_CA_CSR_MALFORMED, ERR_CA_CSR_SIGNATURE, ERR_CA_CSR_KEY, ERR_CA_TTL_TOO_LONG, ERR_CA_AUDIENCE_MISSING, ERR_CA_READER_TOKEN, ERR_CA_NOT_REGISTERED, ERR_CA_UNAUTHENTICATED, ERR_CA_NOT_CONFIGURED"),
    }),
  })
  .meta({ id: "Error" });

/** One Istio resource as users write it (the input side of the schemas in policies/resources). */
export const IstioResource = z.union([GatewayResource, VirtualServiceResource, DestinationRuleResource, ServiceEntryResource]).meta({ id: "IstioResource" });

export const ResourcesBody = z
  .union([IstioResource, z.array(IstioResource), z.object({ apiVersion: z.string().optional(), kind: z.string().optional(), items: z.array(IstioResource) })])
  .meta({ id: "Resources", description: "A resource, an array of resources or a list ({\"items\": [...]}). As YAML (content-type application/yaml), any number of documents separated by ---." });

export const ChangeSummary = z
  .object({
    created: z.array(ResourceRef),
    changed: z.array(ResourceRef),
    unchanged: z.array(ResourceRef).describe("resources the request named that were already stored exactly so"),
    deleted: z.array(ResourceRef),
  })
  .meta({ id: "ChangeSummary" });

export const FieldChange = z.object({ path: z.string(), from: z.unknown().optional(), to: z.unknown().optional() });

export const ResourceChange = z
  .object({ resource: ResourceRef, change: z.enum(["created", "changed", "deleted"]), fields: z.array(FieldChange).optional() })
  .meta({ id: "ResourceChange" });

export const WriteResult = z
  .object({
    version: z.string().describe("the version current after the request (for validate: the version apply would produce)"),
    previousVersion: z.string().nullable(),
    changed: z.boolean().describe("false when the resulting set equals the current one: nothing was written and no history entry added"),
    dryRun: z.boolean(),
    resources: ChangeSummary,
    changes: z.array(ResourceChange),
    warnings: z.array(ConfigIssue).describe("accepted but flagged, e.g. a VirtualService no gateway serves"),
    historySeq: z.number().nullable(),
  })
  .meta({ id: "WriteResult" });
export type WriteResult = z.infer<typeof WriteResult>;

export const ResourceList = z.object({ version: z.string().nullable(), items: z.array(IstioResource) }).meta({ id: "ResourceList" });

export const HistoryEntry = z
  .object({
    seq: z.number(),
    version: z.string(),
    previous: z.string().nullable(),
    at: z.string().describe("ISO 8601 time of the write"),
    author: z.string().describe("who wrote it: the x-mesh-author header, else the token's role (the only authenticated fact)"),
    role: z.enum(["admin"]),
    action: z.enum(["apply", "delete", "rollback"]),
    summary: z.string(),
    changes: z.object({ created: z.array(ResourceRef), changed: z.array(ResourceRef), deleted: z.array(ResourceRef) }),
    source: z.string().optional().describe("the file name the client gave (apply)"),
    rollbackTo: z.string().optional(),
  })
  .meta({ id: "HistoryEntry" });
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const HistoryList = z.object({ version: z.string().nullable(), entries: z.array(HistoryEntry) }).meta({ id: "HistoryList" });

export const SnapshotResult = z
  .object({ version: z.string(), snapshot: Snapshot.extend({ source: z.object({ digest: z.string(), compiledVersion: z.string() }) }) })
  .meta({ id: "SnapshotResult" });

export const DiffResult = z.object({ from: z.string(), to: z.string(), changes: z.array(ResourceChange) }).meta({ id: "DiffResult" });

export const RollbackRequest = z.strictObject({ version: z.string().min(1).max(128) }).meta({ id: "RollbackRequest" });

export const ExplainRequest = z
  .strictObject({
    version: z.string().min(1).max(128).optional().describe("default: the current version"),
    gatewayLabels: z.record(z.string(), z.string()).optional().describe("the gateway workload's labels; default istio=ingressgateway; istio=egressgateway explains for the egress gateway"),
    request: ExplainRequestInput,
  })
  .meta({ id: "ExplainRequest" });
export type ExplainRequest = z.input<typeof ExplainRequest>;

export const ExplainResult = Explanation.meta({ id: "Explanation" });

export const VersionResult = z.object({ version: z.string().nullable() });

const TrafficStats = z
  .object({
    requests: z.number(),
    errors: z.number().describe("requests answered 5xx"),
    errorRatio: z.number().nullable(),
    p50Ms: z.number().nullable(),
    p99Ms: z.number().nullable(),
  })
  .meta({ id: "TrafficStats", description: "Istio's reporter=\"source\" metrics since the gateways started: requests, 5xx, and quantiles of istio_request_duration_milliseconds" });

export const DashboardResult = z
  .object({
    version: z.string().nullable(),
    generatedAt: z.string(),
    graph: z.object({
      nodes: z.array(z.object({ id: z.string(), kind: z.enum(["gateway", "host", "route", "destination"]), label: z.string(), detail: z.array(z.string()) })),
      edges: z.array(
        z.object({
          from: z.string(),
          to: z.string(),
          kind: z.enum(["host", "route", "weight", "mirror"]),
          label: z.string(),
          share: z.number().optional().describe("the share of the route's requests, 0..1"),
        }),
      ),
    }),
    traffic: z.object({
      configured: z.boolean().describe("false when the control worker knows no gateway (MESH_GATEWAY_URLS, MESH_GATEWAY binding)"),
      sources: z.array(
        z.object({
          name: z.string(),
          ok: z.boolean(),
          error: z.string().optional(),
          configVersion: z.string().nullable().optional(),
          inSync: z.boolean().optional(),
          sinceSeconds: z.number().nullable().optional(),
        }),
      ),
      destinations: z.record(z.string(), TrafficStats).describe("by destination node id"),
      unattributed: TrafficStats,
      total: TrafficStats,
    }),
  })
  .meta({ id: "Dashboard" });
export type DashboardResult = z.infer<typeof DashboardResult>;

export const PrometheusText = z.string().meta({ id: "PrometheusText", description: "Prometheus text exposition format 0.0.4 (# HELP, # TYPE and one line per sample)" });

const Flag = z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1");
const Source = z.string().min(1).max(256).describe("a file name to show in issue locations, e.g. canary.yaml");

export const ApplyQuery = z.strictObject({
  prune: Flag.optional().describe("the body is the whole config: stored resources it does not name are deleted"),
  source: Source.optional(),
});
export const ValidateQuery = ApplyQuery;
export const ResourcesQuery = z.strictObject({
  kind: z.string().min(1).max(64).optional().describe("a kind (VirtualService), its plural (virtualservices) or short name (vs)"),
  namespace: z.string().min(1).max(63).optional(),
});
export const HistoryQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional().describe("default 50") });
export const SnapshotQuery = z.strictObject({ version: z.string().min(1).max(128).optional().describe("default: the current version") });
export const DiffQuery = z.strictObject({ from: z.string().min(1).max(128), to: z.string().min(1).max(128).optional().describe("default: the current version") });
export const ResourcePath = z.object({ kind: z.string().min(1).max(64), namespace: z.string().min(1).max(63), name: z.string().min(1).max(253) });

export const X509SvidRequest = z
  .object({
    csr: z.string().min(1).describe("a PKCS#10 certificate request, PEM; only its public key is used, and its self-signature must verify"),
    spiffeId: z.string().min(1).describe("the SPIFFE ID to certify, in the CA's trust domain, e.g. spiffe://acme.test/ns/shop/sa/frontend"),
    ttlSeconds: z.number().int().min(60).optional().describe("default 3600, at most 86400"),
  })
  .strict()
  .meta({ id: "X509SvidRequest" });

export const X509SvidResult = z
  .object({
    spiffeId: z.string(),
    certificate: z.string().describe("the X.509-SVID, PEM"),
    chain: z.string().describe("the SVID then its intermediates (not the root), PEM: what the workload presents"),
    bundle: z.string().describe("the trust anchor, PEM"),
    serialNumber: z.string(),
    notBefore: z.string(),
    expiresAt: z.string(),
  })
  .meta({ id: "X509SvidResult" });
export type X509SvidResult = z.infer<typeof X509SvidResult>;

export const JwtSvidRequest = z
  .object({
    spiffeId: z.string().min(1),
    audience: z.array(z.string().min(1)).describe("who the token is for (required, at least one)"),
    ttlSeconds: z.number().int().min(10).optional().describe("default 300, at most 3600"),
  })
  .strict()
  .meta({ id: "JwtSvidRequest" });

export const JwtSvidResult = z.object({ spiffeId: z.string(), token: z.string(), audience: z.array(z.string()), expiresAt: z.string() }).meta({ id: "JwtSvidResult" });
export type JwtSvidResult = z.infer<typeof JwtSvidResult>;

export const SpiffeBundle = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())), spiffe_refresh_hint: z.number().optional(), spiffe_sequence: z.number().optional() })
  .meta({ id: "SpiffeBundle", description: "A SPIFFE bundle (JWK Set): the CA's root as an x509-svid key (x5c), the JWT-SVID key as a jwt-svid key (kid)" });
