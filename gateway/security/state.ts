import { ownedHeadersOf } from "../../policies/identity/identity-headers.js";
import { jwtSvidLocationsOf, locationKey, type TokenLocation } from "../../policies/identity/token-location.js";
import type { JWK } from "jose";
import { selectPolicies, type ApplicablePolicies } from "../../policies/authz/scope.js";
import { base64ToBytes } from "../../policies/identity/encoding.js";
import { RemoteDocument } from "../../policies/identity/remote-document.js";
import { parseSpiffeBundle, mergeBundles, type BundleLookup, type TrustBundle } from "../../policies/identity/trust-bundle.js";
import { VerifiedCache } from "../../policies/identity/verified-cache.js";
import type { VerifiedX509Svid } from "../../policies/identity/x509-svid.js";
import { X509Certificate } from "../../policies/identity/x509-lib.js";
import type { PathNormalizationOptions } from "../../policies/paths/normalize.js";
import type { CompiledJwtRule, SecurityConfig, Snapshot } from "../../policies/snapshot/schema.js";
import type { GatewaySettings } from "../env.js";

/**
 * The gateway's security state. Per snapshot (built once, on first use): trust bundles parsed,
 * policies indexed by destination namespace, the headers the gateway owns. Per isolate, across
 * snapshot swaps: remote bundles and JWKS by URL (so a new config version does not refetch or
 * lose the last good keys), and the caches of verified certificates and tokens.
 */

/** Identity headers only the gateway may set: whatever a client sends under these names is dropped. */
export { IDENTITY_HEADERS } from "../../policies/identity/identity-headers.js";

export const DEFAULT_GATEWAY_SERVICE_ACCOUNT = "istio-ingressgateway-service-account";
const DEFAULT_PATHS: PathNormalizationOptions = { normalization: "BASE", escapedSlashes: "REJECT" };

export interface SecurityStateOptions {
  settings: GatewaySettings;
  fetcher: typeof fetch;
  log: (line: Record<string, unknown>) => void;
  /** The service account of the gateway's default SPIFFE ID (when MESH_GATEWAY_SPIFFE_ID is unset); default the ingress gateway's. */
  serviceAccount?: string;
}

export class SecurityState {
  private readonly remotes = new Map<string, RemoteDocument<unknown>>();
  private readonly perSnapshot = new WeakMap<Snapshot, SnapshotSecurity>();
  /** Verified X.509-SVID paths, keyed by a hash of the presented chain and the bundles' generation. */
  readonly certificates = new VerifiedCache<VerifiedX509Svid>(1024);
  /** Verified tokens (JWT-SVIDs and end-user JWTs), keyed by a hash of the token, the expected audience and the keys' generation. */
  readonly tokens = new VerifiedCache<{ claims: Record<string, unknown> }>(4096);

  constructor(readonly options: SecurityStateOptions) {}

  for(snapshot: Snapshot): SnapshotSecurity {
    let security = this.perSnapshot.get(snapshot);
    if (!security) {
      security = new SnapshotSecurity(snapshot, this);
      this.perSnapshot.set(snapshot, security);
    }
    return security;
  }

  remote<T>(key: string, create: () => RemoteDocument<T>): RemoteDocument<T> {
    let document = this.remotes.get(key) as RemoteDocument<T> | undefined;
    if (!document) {
      document = create();
      this.remotes.set(key, document as RemoteDocument<unknown>);
    }
    return document;
  }
}

export class SnapshotSecurity {
  /** Undefined when the config has no MeshConfig, security policy or server TLS: peer credentials and tokens are then left alone. */
  readonly config: SecurityConfig | undefined;
  readonly paths: PathNormalizationOptions;
  readonly gatewayId: string;
  readonly jwtSvidAudiences: string[];
  /** Where callers put JWT-SVIDs (MeshConfig `jwtSvid.fromHeaders`, default `Authorization: Bearer`). */
  readonly jwtSvidLocations: TokenLocation[];
  readonly jwtSvidLocationKeys: ReadonlySet<string>;
  /** Lowercase names of the headers the gateway owns (identity headers and the JWT output headers of every RequestAuthentication). */
  readonly ownedHeaders: ReadonlySet<string>;
  readonly trustDomains: string[];
  private readonly staticBundles = new Map<string, TrustBundle>();
  private readonly bundleUrls = new Map<string, { url: string; refreshIntervalMs?: number }>();
  private readonly merged = new Map<string, { remote: TrustBundle | undefined; bundle: TrustBundle }>();
  private readonly applicable = new Map<string, ApplicablePolicies>();
  private readonly inlineJwks = new WeakMap<CompiledJwtRule, JWK[]>();

  constructor(
    private readonly snapshot: Snapshot,
    private readonly state: SecurityState,
  ) {
    this.config = snapshot.security;
    const config = this.config;
    this.paths = config?.pathNormalization ?? DEFAULT_PATHS;
    const trustDomain = config?.trustDomain ?? "cluster.local";
    this.gatewayId = state.options.settings.MESH_GATEWAY_SPIFFE_ID ?? `spiffe://${trustDomain}/ns/${config?.rootNamespace ?? "istio-system"}/sa/${state.options.serviceAccount ?? DEFAULT_GATEWAY_SERVICE_ACCOUNT}`;
    this.jwtSvidAudiences = [this.gatewayId, ...(config?.jwtSvidAudiences ?? [])];
    this.jwtSvidLocations = jwtSvidLocationsOf(config);
    this.jwtSvidLocationKeys = new Set(this.jwtSvidLocations.map(locationKey));
    this.trustDomains = config ? [config.trustDomain, ...config.trustDomainAliases] : [];
    this.ownedHeaders = ownedHeadersOf(config);
    for (const compiled of config?.trustBundles ?? []) {
      const x509Authorities = compiled.x509Authorities.map((base64) => new X509Certificate(base64ToBytes(base64)!));
      this.staticBundles.set(compiled.trustDomain, { trustDomain: compiled.trustDomain, x509Authorities, jwtAuthorities: compiled.jwtAuthorities as JWK[] });
      if (compiled.url) this.bundleUrls.set(compiled.trustDomain, { url: compiled.url, ...(compiled.refreshIntervalMs !== undefined ? { refreshIntervalMs: compiled.refreshIntervalMs } : {}) });
    }
  }

  get version(): string {
    return this.snapshot.version;
  }

  /** The policies that apply to a request routed to a destination of `namespace`. */
  policies(namespace: string | undefined): ApplicablePolicies | undefined {
    if (!this.config) return undefined;
    const key = namespace ?? "";
    let found = this.applicable.get(key);
    if (!found) {
      found = selectPolicies(this.config, namespace, this.state.options.settings.MESH_GATEWAY_LABELS);
      this.applicable.set(key, found);
    }
    return found;
  }

  /** The bundle source for a trust domain: its own, or (for an alias of the mesh trust domain) the mesh's. */
  private bundleDomain(trustDomain: string): string | undefined {
    if (this.staticBundles.has(trustDomain)) return trustDomain;
    if (this.config && this.config.trustDomainAliases.includes(trustDomain) && this.staticBundles.has(this.config.trustDomain)) return this.config.trustDomain;
    return undefined;
  }

  /** Whether the mesh has keys (static or remote) to verify JWT-SVIDs of this trust domain: only those are verified. */
  verifiesJwtSvidsOf(trustDomain: string): boolean {
    const domain = this.bundleDomain(trustDomain);
    return domain !== undefined && (this.bundleUrls.has(domain) || this.staticBundles.get(domain)!.jwtAuthorities.length > 0);
  }

  /** A BundleLookup for the verifiers, merging static authorities with a fetched bundle. */
  bundles(now: number, background?: (work: Promise<unknown>) => void): BundleLookup {
    return async (trustDomain, options) => {
      const domain = this.bundleDomain(trustDomain);
      if (domain === undefined) return undefined;
      const fixed = this.staticBundles.get(domain)!;
      const source = this.bundleUrls.get(domain);
      if (!source) return fixed;
      const remote = await this.remoteBundle(domain, source).get(now, { ...(options?.refresh ? { refresh: true } : {}), ...(background ? { background } : {}) });
      const cached = this.merged.get(domain);
      if (cached && cached.remote === remote) return cached.bundle;
      const bundle = remote ? mergeBundles(domain, [fixed, remote]) : fixed;
      this.merged.set(domain, { remote, bundle });
      return bundle;
    };
  }

  /** Part of cache keys: changes whenever a fetched bundle or JWKS changes. */
  generation(): string {
    let remoteGenerations = 0;
    for (const [domain, source] of this.bundleUrls) remoteGenerations += this.remoteBundle(domain, source).generation;
    return `${this.snapshot.version}:${remoteGenerations}`;
  }

  private remoteBundle(trustDomain: string, source: { url: string; refreshIntervalMs?: number }): RemoteDocument<TrustBundle> {
    const log = this.state.options.log;
    return this.state.remote(`bundle ${trustDomain} ${source.url}`, () => new RemoteDocument<TrustBundle>({
      url: source.url,
      fetch: (url, init) => this.state.options.fetcher(url, init),
      parse: (json) => {
        const { bundle, problems } = parseSpiffeBundle(trustDomain, json);
        if (problems.length > 0) log({ event: "trust_bundle_entries_ignored", trust_domain: trustDomain, url: source.url, problems });
        return bundle;
      },
      ...(source.refreshIntervalMs !== undefined ? { maxAgeMs: source.refreshIntervalMs } : {}),
      freshnessOf: (bundle) => (bundle.refreshHintSeconds !== undefined ? bundle.refreshHintSeconds * 1000 : undefined),
      onError: (message) => log({ event: "trust_bundle_fetch_failed", trust_domain: trustDomain, reason: message }),
    }));
  }

  /** The keys of a jwtRule: its inline JWKS, or its jwksUri's (cached, refreshed on an unknown kid). */
  async keysFor(rule: CompiledJwtRule, now: number, options: { refresh?: boolean; background?: (work: Promise<unknown>) => void } = {}): Promise<{ keys: JWK[] | undefined; generation: number }> {
    if (rule.jwks) {
      let keys = this.inlineJwks.get(rule);
      if (!keys) this.inlineJwks.set(rule, (keys = rule.jwks.keys as JWK[]));
      return { keys, generation: 0 };
    }
    const url = rule.jwksUri!;
    const document = this.state.remote(`jwks ${url}`, () => new RemoteDocument<JWK[]>({
      url,
      fetch: (target, init) => this.state.options.fetcher(target, init),
      parse: (json) => {
        const keys = (json as { keys?: unknown } | null)?.keys;
        if (!Array.isArray(keys)) throw new Error("not a JSON Web Key Set");
        return keys.filter((key): key is JWK => typeof key === "object" && key !== null && typeof (key as JWK).kty === "string");
      },
      ...(rule.timeoutMs !== undefined ? { timeoutMs: rule.timeoutMs } : {}),
      onError: (message) => this.state.options.log({ event: "jwks_fetch_failed", issuer: rule.issuer, reason: message }),
    }));
    const keys = await document.get(now, options);
    return { keys, generation: document.generation };
  }
}
