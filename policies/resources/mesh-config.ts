import { z } from "zod";
import { SpiffeIdError } from "../identity/errors.js";
import { parseSpiffeId, parseTrustDomain } from "../identity/spiffe-id.js";
import { parsePemAuthorities, parseSpiffeBundle } from "../identity/trust-bundle.js";
import { PATH_NORMALIZATIONS } from "../paths/normalize.js";
import { Duration, istioObject, NamespaceName } from "./common.js";
import { KeySetUrl } from "./request-authentication.js";
import { HTTPRetry } from "./virtual-service.js";

/**
 * mesh.istio.io/v1alpha1 MeshConfig: the mesh-wide settings Kubernetes and istiod would supply,
 * with Istio's MeshConfig field names where they exist (`trustDomain`, `trustDomainAliases`,
 * `rootNamespace`, `caCertificates`, `pathNormalization`, `outboundTrafficPolicy`,
 * `defaultHttpRetryPolicy`), plus `trustBundles` (SPIFFE bundles per trust domain, inline or
 * from a bundle endpoint) and `jwtSvid.audiences`. At most one MeshConfig per config.
 */

export const TrustDomainName = z.string().transform((value, ctx) => {
  try {
    return parseTrustDomain(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `'${value}' is not a valid trust domain (${error instanceof SpiffeIdError ? error.message : String(error)})` });
    return z.NEVER;
  }
});

/** A SPIFFE bundle document (JWK Set); its keys are checked against the bundle standard. */
const SpiffeBundleDocument = z.looseObject({
  keys: z.array(z.record(z.string(), z.unknown())),
  spiffe_sequence: z.number().int().min(0).optional(),
  spiffe_refresh_hint: z.number().int().min(0).optional(),
});

export const TrustBundleSource = istioObject({
  trustDomain: TrustDomainName,
  spiffeBundle: SpiffeBundleDocument.optional(),
  spiffeBundleUrl: KeySetUrl.optional(),
  /** How often a fetched bundle is refreshed when it has no `spiffe_refresh_hint`; default 5m. */
  refreshInterval: Duration.optional(),
}).superRefine((source, ctx) => {
  if ((source.spiffeBundle === undefined) === (source.spiffeBundleUrl === undefined)) {
    ctx.addIssue({ code: "custom", message: "set exactly one of spiffeBundle (inline) and spiffeBundleUrl (a bundle endpoint)" });
  }
  if (source.spiffeBundle) {
    try {
      const { bundle, problems } = parseSpiffeBundle(source.trustDomain, source.spiffeBundle);
      for (const problem of problems) ctx.addIssue({ code: "custom", path: ["spiffeBundle"], message: problem });
      if (problems.length === 0 && bundle.x509Authorities.length === 0 && bundle.jwtAuthorities.length === 0) {
        ctx.addIssue({ code: "custom", path: ["spiffeBundle"], message: "the bundle has no usable x509-svid or jwt-svid key (every SVID of this trust domain would be refused)" });
      }
    } catch (error) {
      ctx.addIssue({ code: "custom", path: ["spiffeBundle"], message: (error as Error).message });
    }
  }
});
export type TrustBundleSource = z.infer<typeof TrustBundleSource>;

export const WorkloadRegistration = istioObject({
  spiffeId: z.string().superRefine((value, ctx) => {
    try {
      if (parseSpiffeId(value).path === "") ctx.addIssue({ code: "custom", message: `'${value}' names a trust domain; a workload registration needs a SPIFFE ID with a path` });
    } catch (error) {
      ctx.addIssue({ code: "custom", message: `'${value}' is not a valid SPIFFE ID (${error instanceof SpiffeIdError ? error.message : String(error)})` });
    }
  }),
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, "tokenSha256 must be the SHA-256 of the registration token as 64 lowercase hex digits (e.g. printf %s \"$TOKEN\" | sha256sum)").optional(),
  /**
   * Attested by the platform: a worker that reaches the control worker through a Cloudflare
   * service binding whose `props.spiffeId` is this SPIFFE ID may obtain it, with no token.
   */
  serviceBinding: z.boolean().optional(),
}).superRefine((registration, ctx) => {
  if (registration.tokenSha256 === undefined && registration.serviceBinding !== true) {
    ctx.addIssue({ code: "custom", message: "a workload registration needs tokenSha256 (a registration token) or serviceBinding: true (attested by a service binding's props), or both" });
  }
});
export type WorkloadRegistration = z.infer<typeof WorkloadRegistration>;

export const CertificateData = istioObject(
  {
    pem: z.string().superRefine((pem, ctx) => {
      const { problems } = parsePemAuthorities(pem);
      for (const problem of problems) ctx.addIssue({ code: "custom", message: problem });
    }),
    trustDomains: z.array(TrustDomainName).optional(),
  },
  ["spiffeBundleUrl", "certSigners"],
);

export const MeshConfigSpec = istioObject(
  {
    trustDomain: TrustDomainName.default("cluster.local"),
    trustDomainAliases: z.array(TrustDomainName).optional(),
    rootNamespace: NamespaceName.default("istio-system"),
    caCertificates: z.array(CertificateData).optional(),
    trustBundles: z.array(TrustBundleSource).optional(),
    pathNormalization: istioObject({
      normalization: z
        .enum(["DEFAULT", ...PATH_NORMALIZATIONS], { error: () => `normalization must be one of DEFAULT, ${PATH_NORMALIZATIONS.join(", ")}` })
        .default("DEFAULT")
        .transform((mode) => (mode === "DEFAULT" ? "BASE" : mode)),
      /** This project's addition: refuse (default) or keep %2F / %5C under BASE and MERGE_SLASHES. */
      escapedSlashes: z.enum(["REJECT", "KEEP"]).default("REJECT"),
    }).optional(),
    outboundTrafficPolicy: istioObject({ mode: z.enum(["ALLOW_ANY", "REGISTRY_ONLY"]).default("ALLOW_ANY") }).optional(),
    defaultHttpRetryPolicy: HTTPRetry.optional(),
    /**
     * This project's addition, for JWT-SVIDs presented to the gateways: the audiences they may
     * carry (besides the gateway's own SPIFFE ID), and where callers put them (`fromHeaders`, as
     * a RequestAuthentication's jwtRules do; default `Authorization: Bearer`, JWT-SVID §5.2).
     */
    jwtSvid: istioObject({
      audiences: z.array(z.string().min(1)).min(1).optional(),
      fromHeaders: z
        .array(istioObject({ name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a valid header name").transform((name) => name.toLowerCase()), prefix: z.string().optional() }))
        .min(1)
        .refine((headers) => new Set(headers.map((header) => header.name)).size === headers.length, { message: "a header is listed twice" })
        .refine((headers) => headers.every((header) => !header.name.startsWith("x-mesh-") && header.name !== "x-forwarded-client-cert"), { message: "x-mesh-* and x-forwarded-client-cert are the gateway's own headers" })
        .optional(),
    }).optional(),
    /**
     * This project's addition: who may obtain which SVID from the mesh CA (POST /v1/svid/*)
     * without the admin token. Each entry lets the holder of a registration token (stored as
     * the lowercase hex SHA-256 of the token, never the token) obtain exactly that SPIFFE ID.
     */
    workloadRegistrations: z.array(WorkloadRegistration).max(1000).optional(),
  },
  [
    "proxyListenPort",
    "proxyInboundListenPort",
    "proxyHttpPort",
    "connectTimeout",
    "protocolDetectionTimeout",
    "tcpKeepalive",
    "ingressClass",
    "ingressService",
    "ingressControllerMode",
    "ingressSelector",
    "enableTracing",
    "accessLogFile",
    "accessLogFormat",
    "accessLogEncoding",
    "enableEnvoyAccessLogService",
    "disableEnvoyListenerLog",
    "defaultConfig",
    "inboundTrafficPolicy",
    "configSources",
    "enableAutoMtls",
    "defaultServiceExportTo",
    "defaultVirtualServiceExportTo",
    "defaultDestinationRuleExportTo",
    "localityLbSetting",
    "dnsRefreshRate",
    "h2UpgradePolicy",
    "inboundClusterStatName",
    "outboundClusterStatName",
    "certificates",
    "serviceSettings",
    "enablePrometheusMerge",
    "verifyCertificateAtClient",
    "ca",
    "extensionProviders",
    "defaultProviders",
    "discoverySelectors",
    "meshMTLS",
    "tlsDefaults",
    "serviceScopeConfigs",
  ],
).superRefine((spec, ctx) => {
  const seen = new Set<string>();
  spec.trustBundles?.forEach((source, index) => {
    if (seen.has(source.trustDomain)) ctx.addIssue({ code: "custom", path: ["trustBundles", index, "trustDomain"], message: `trust domain '${source.trustDomain}' has more than one bundle` });
    seen.add(source.trustDomain);
  });
  spec.workloadRegistrations?.forEach((registration, index) => {
    if (!registration.spiffeId.startsWith(`spiffe://${spec.trustDomain}/`)) {
      ctx.addIssue({ code: "custom", path: ["workloadRegistrations", index, "spiffeId"], message: `'${registration.spiffeId}' is not in the trust domain '${spec.trustDomain}'; the mesh CA issues only for its own trust domain` });
    }
  });
  spec.trustDomainAliases?.forEach((alias, index) => {
    if (alias === spec.trustDomain) ctx.addIssue({ code: "custom", path: ["trustDomainAliases", index], message: `'${alias}' is the trust domain itself` });
  });
});
export type MeshConfigSpec = z.infer<typeof MeshConfigSpec>;
