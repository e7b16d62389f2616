import type { ConfigIssue } from "../errors.js";
import { bytesToBase64 } from "../identity/encoding.js";
import { parsePemAuthorities, parseSpiffeBundle } from "../identity/trust-bundle.js";
import type {
  AuthorizationPolicyResource,
  GatewayResource,
  MeshConfigResource,
  PeerAuthenticationResource,
  RequestAuthenticationResource,
} from "../resources/resource.js";
import { resourceRefOf } from "../resources/resource.js";
import type { JwtRule } from "../resources/request-authentication.js";
import type { WorkloadSelector } from "../resources/security-common.js";
import type {
  CompiledAuthorizationPolicy,
  CompiledJwtRule,
  CompiledPeerAuthentication,
  CompiledRequestAuthentication,
  CompiledTrustBundle,
  GatewayServerTls,
  MeshSettings,
  PolicyRefs,
  PolicyScope,
  RetryPolicy,
  SecurityConfig,
} from "./schema.js";

/**
 * The security side of the compiler: MeshConfig (trust domain, bundles, root namespace, path
 * normalisation), the security.istio.io policies with their scope worked out, and the client
 * certificate requirements of Gateway servers. With no workloads, a policy applies
 *
 * - in the root namespace without a selector: to every request (`mesh`);
 * - in the root namespace with `selector.matchLabels`: to every request through a gateway
 *   whose labels match (`gateway`, e.g. `istio: ingressgateway`);
 * - in any other namespace N: to requests routed to destinations (ServiceEntries) of N
 *   (`namespace`). A selector there would select workloads, which do not exist: refused.
 */

export const DEFAULT_ROOT_NAMESPACE = "istio-system";
export const DEFAULT_TRUST_DOMAIN = "cluster.local";
export const DRY_RUN_ANNOTATION = "istio.io/dry-run";

export interface SecurityInput {
  meshConfigs: readonly MeshConfigResource[];
  gateways: readonly GatewayResource[];
  authorizationPolicies: readonly AuthorizationPolicyResource[];
  requestAuthentications: readonly RequestAuthenticationResource[];
  peerAuthentications: readonly PeerAuthenticationResource[];
  /** Namespaces that hold destinations (ServiceEntries) or VirtualServices: a namespace policy elsewhere applies to nothing. */
  servedNamespaces: ReadonlySet<string>;
}

export interface SecurityOutput {
  security: SecurityConfig | undefined;
  mesh: MeshSettings | undefined;
  /** MeshConfig.defaultHttpRetryPolicy, compiled (null: no retries), or undefined for Istio's default. */
  defaultRetries: RetryPolicy | null | undefined;
}

export function compileSecurity(input: SecurityInput, issues: ConfigIssue[], warnings: ConfigIssue[]): SecurityOutput {
  if (input.meshConfigs.length > 1) {
    for (const extra of input.meshConfigs.slice(1)) {
      issues.push({
        code: "ERR_CONFIG_CONFLICT",
        resource: resourceRefOf(extra),
        path: "metadata.name",
        message: `only one MeshConfig is allowed (already have MeshConfig ${input.meshConfigs[0]!.metadata.namespace}/${input.meshConfigs[0]!.metadata.name})`,
      });
    }
  }
  const meshConfig = input.meshConfigs[0];
  const spec = meshConfig?.spec;
  const rootNamespace = spec?.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const trustDomain = spec?.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const trustDomainAliases = spec?.trustDomainAliases ?? [];

  const gatewayTls = compileGatewayTls(input.gateways);
  const anySecurity =
    meshConfig !== undefined ||
    input.authorizationPolicies.length + input.requestAuthentications.length + input.peerAuthentications.length > 0 ||
    Object.keys(gatewayTls).length > 0;

  const defaultRetries = spec?.defaultHttpRetryPolicy
    ? spec.defaultHttpRetryPolicy.attempts === 0
      ? null
      : {
          attempts: spec.defaultHttpRetryPolicy.attempts,
          ...(spec.defaultHttpRetryPolicy.perTryTimeout !== undefined ? { perTryTimeoutMs: spec.defaultHttpRetryPolicy.perTryTimeout } : {}),
          conditions: spec.defaultHttpRetryPolicy.retryOn?.conditions ?? ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
          statusCodes: spec.defaultHttpRetryPolicy.retryOn ? spec.defaultHttpRetryPolicy.retryOn.statusCodes : [503],
        }
    : undefined;
  // The egress's passthrough routes have no VirtualService to carry a retry policy: the mesh default travels here.
  const meshSettings: MeshSettings = {
    ...(spec?.outboundTrafficPolicy ? { outboundTrafficPolicy: spec.outboundTrafficPolicy.mode } : {}),
    ...(defaultRetries !== undefined ? { defaultHttpRetryPolicy: defaultRetries } : {}),
  };
  const mesh = Object.keys(meshSettings).length > 0 ? meshSettings : undefined;
  if (!anySecurity) return { security: undefined, mesh, defaultRetries };

  const scopeOf = (resource: { kind: string; metadata: { namespace: string; name: string } }, selector: WorkloadSelector | undefined) => {
    const labels = selector?.matchLabels ?? {};
    const hasSelector = Object.keys(labels).length > 0;
    if (resource.metadata.namespace === rootNamespace) {
      return hasSelector ? { scope: "gateway" as PolicyScope, selector: labels } : { scope: "mesh" as PolicyScope };
    }
    if (hasSelector) {
      issues.push({
        code: "ERR_CONFIG_UNSUPPORTED_FIELD",
        resource: resourceRefOf(resource as never),
        path: "spec.selector",
        message: `a selector picks workloads, and there are none here: use it only in the root namespace '${rootNamespace}' to pick gateways (e.g. istio: ingressgateway), or drop it to apply to the destinations of namespace '${resource.metadata.namespace}'`,
      });
      return undefined;
    }
    if (!input.servedNamespaces.has(resource.metadata.namespace)) {
      warnings.push({
        code: "WARN_CONFIG_NOT_SERVED",
        resource: resourceRefOf(resource as never),
        path: "metadata.namespace",
        message: `no ServiceEntry or VirtualService is in namespace '${resource.metadata.namespace}', so this policy applies to no request (policies in the root namespace '${rootNamespace}' apply to all)`,
      });
    }
    return { scope: "namespace" as PolicyScope };
  };
  const base = (resource: { metadata: { namespace: string; name: string } }, scoped: { scope: PolicyScope; selector?: Record<string, string> }) => ({
    name: `${resource.metadata.namespace}/${resource.metadata.name}`,
    namespace: resource.metadata.namespace,
    scope: scoped.scope,
    ...(scoped.selector ? { selector: scoped.selector } : {}),
  });

  const peerAuthentications: CompiledPeerAuthentication[] = [];
  const wide = new Map<string, string>();
  for (const policy of input.peerAuthentications) {
    const scoped = scopeOf(policy, policy.spec.selector);
    if (!scoped) continue;
    if (scoped.scope !== "gateway") {
      const key = scoped.scope === "mesh" ? "<mesh>" : policy.metadata.namespace;
      const other = wide.get(key);
      if (other) {
        issues.push({
          code: "ERR_CONFIG_CONFLICT",
          resource: resourceRefOf(policy),
          path: "metadata.name",
          message: `PeerAuthentication ${other} already applies ${scoped.scope === "mesh" ? "mesh-wide" : `to namespace '${policy.metadata.namespace}'`}; Istio would pick the oldest, which a config file cannot tell: keep one`,
        });
        continue;
      }
      wide.set(key, `${policy.metadata.namespace}/${policy.metadata.name}`);
    }
    peerAuthentications.push({ ...base(policy, scoped), mode: policy.spec.mtls?.mode ?? "UNSET" });
  }

  const requestAuthentications: CompiledRequestAuthentication[] = [];
  for (const policy of input.requestAuthentications) {
    const scoped = scopeOf(policy, policy.spec.selector);
    if (!scoped) continue;
    const issuers = new Set<string>();
    (policy.spec.jwtRules ?? []).forEach((rule, index) => {
      if (issuers.has(rule.issuer)) {
        issues.push({ code: "ERR_CONFIG_CONFLICT", resource: resourceRefOf(policy), path: `spec.jwtRules[${index}].issuer`, message: `issuer '${rule.issuer}' has two rules in this policy` });
      }
      issuers.add(rule.issuer);
    });
    requestAuthentications.push({ ...base(policy, scoped), jwtRules: (policy.spec.jwtRules ?? []).map(compileJwtRule) });
  }

  const authorizationPolicies: CompiledAuthorizationPolicy[] = [];
  for (const policy of input.authorizationPolicies) {
    const scoped = scopeOf(policy, policy.spec.selector);
    if (!scoped) continue;
    const dryRun = policy.metadata.annotations?.[DRY_RUN_ANNOTATION] === "true";
    authorizationPolicies.push({
      ...base(policy, scoped),
      action: policy.spec.action as "ALLOW" | "DENY" | "AUDIT",
      rules: (policy.spec.rules ?? []).map((rule) => ({
        ...(rule.from ? { from: rule.from.map((from) => ({ ...from.source })) } : {}),
        ...(rule.to ? { to: rule.to.map((to) => ({ ...to.operation })) } : {}),
        ...(rule.when ? { when: rule.when.map((condition) => ({ ...condition })) } : {}),
      })),
      ...(dryRun ? { dryRun: true } : {}),
    });
  }

  return {
    security: {
      trustDomain,
      trustDomainAliases,
      rootNamespace,
      pathNormalization: spec?.pathNormalization ?? { normalization: "BASE", escapedSlashes: "REJECT" },
      jwtSvidAudiences: spec?.jwtSvid?.audiences ?? [],
      ...(spec?.jwtSvid?.fromHeaders ? { jwtSvidFromHeaders: spec.jwtSvid.fromHeaders.map((header) => ({ name: header.name, prefix: header.prefix ?? "" })) } : {}),
      trustBundles: compileTrustBundles(meshConfig, trustDomain, trustDomainAliases),
      gatewayTls,
      peerAuthentications,
      requestAuthentications,
      authorizationPolicies,
      index: buildIndex(peerAuthentications, requestAuthentications, authorizationPolicies),
    },
    mesh,
    defaultRetries,
  };
}

function compileJwtRule(rule: JwtRule): CompiledJwtRule {
  const noLocation = !rule.fromHeaders && !rule.fromParams && !rule.fromCookies;
  return {
    issuer: rule.issuer,
    ...(rule.audiences ? { audiences: rule.audiences } : {}),
    ...(rule.jwks !== undefined ? { jwks: JSON.parse(rule.jwks) as { keys: Record<string, unknown>[] } } : {}),
    ...(rule.jwksUri !== undefined ? { jwksUri: rule.jwksUri } : {}),
    ...(rule.timeout !== undefined ? { timeoutMs: rule.timeout } : {}),
    fromHeaders: noLocation
      ? [{ name: "authorization", prefix: "Bearer " }]
      : (rule.fromHeaders ?? []).map((header) => ({ name: header.name.toLowerCase(), prefix: header.prefix ?? "" })),
    fromParams: noLocation ? ["access_token"] : (rule.fromParams ?? []),
    fromCookies: rule.fromCookies ?? [],
    ...(rule.outputPayloadToHeader !== undefined ? { outputPayloadToHeader: rule.outputPayloadToHeader.toLowerCase() } : {}),
    forwardOriginalToken: rule.forwardOriginalToken ?? false,
    outputClaimToHeaders: (rule.outputClaimToHeaders ?? []).map((item) => ({ header: item.header.toLowerCase(), claim: item.claim })),
  };
}

function compileTrustBundles(meshConfig: MeshConfigResource | undefined, trustDomain: string, aliases: readonly string[]): CompiledTrustBundle[] {
  const byDomain = new Map<string, CompiledTrustBundle>();
  const entry = (domain: string) => {
    let bundle = byDomain.get(domain);
    if (!bundle) byDomain.set(domain, (bundle = { trustDomain: domain, x509Authorities: [], jwtAuthorities: [] }));
    return bundle;
  };
  for (const source of meshConfig?.spec.trustBundles ?? []) {
    const bundle = entry(source.trustDomain);
    if (source.spiffeBundle) {
      // The schema has already refused bundles with problems.
      const parsed = parseSpiffeBundle(source.trustDomain, source.spiffeBundle).bundle;
      for (const certificate of parsed.x509Authorities) addOnce(bundle.x509Authorities, bytesToBase64(new Uint8Array(certificate.rawData)));
      for (const key of parsed.jwtAuthorities) bundle.jwtAuthorities.push(key as Record<string, unknown>);
    }
    if (source.spiffeBundleUrl) bundle.url = source.spiffeBundleUrl;
    if (source.refreshInterval !== undefined) bundle.refreshIntervalMs = source.refreshInterval;
  }
  for (const data of meshConfig?.spec.caCertificates ?? []) {
    const { certificates } = parsePemAuthorities(data.pem);
    const domains = data.trustDomains && data.trustDomains.length > 0 ? data.trustDomains : [trustDomain, ...aliases];
    for (const domain of domains) {
      const bundle = entry(domain);
      for (const certificate of certificates) addOnce(bundle.x509Authorities, bytesToBase64(new Uint8Array(certificate.rawData)));
    }
  }
  return [...byDomain.values()].sort((a, b) => a.trustDomain.localeCompare(b.trustDomain));
}

function compileGatewayTls(gateways: readonly GatewayResource[]): Record<string, GatewayServerTls[]> {
  const out: Record<string, GatewayServerTls[]> = {};
  for (const gateway of gateways) {
    const servers = gateway.spec.servers.filter((server) => server.tls !== undefined);
    if (servers.length === 0) continue;
    out[`${gateway.metadata.namespace}/${gateway.metadata.name}`] = servers.map((server) => {
      const mode = server.tls!.mode === "ISTIO_MUTUAL" ? "MUTUAL" : (server.tls!.mode as GatewayServerTls["mode"]);
      return {
        hosts: server.hosts.map((host) => host.host),
        mode,
        ...(server.tls!.subjectAltNames ? { subjectAltNames: server.tls!.subjectAltNames } : {}),
      };
    });
  }
  return out;
}

function buildIndex(
  peer: readonly CompiledPeerAuthentication[],
  request: readonly CompiledRequestAuthentication[],
  authz: readonly CompiledAuthorizationPolicy[],
): SecurityConfig["index"] {
  const empty = (): PolicyRefs => ({ peer: [], request: [], authz: [] });
  const index: SecurityConfig["index"] = { mesh: empty(), gateway: empty(), namespaces: {} };
  const place = (list: readonly { scope: PolicyScope; namespace: string }[], kind: keyof PolicyRefs) => {
    list.forEach((policy, position) => {
      if (policy.scope === "namespace") {
        if (!Object.hasOwn(index.namespaces, policy.namespace)) index.namespaces[policy.namespace] = empty();
        index.namespaces[policy.namespace]![kind].push(position);
      } else index[policy.scope][kind].push(position);
    });
  };
  place(peer, "peer");
  place(request, "request");
  place(authz, "authz");
  return index;
}

function addOnce(list: string[], value: string): void {
  if (!list.includes(value)) list.push(value);
}
