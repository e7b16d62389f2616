import type { ConfigIssue } from "../errors.js";
import type {
  AuthorizationPolicyResource,
  DestinationRuleResource,
  EgressCredentialResource,
  GatewayResource,
  MeshConfigResource,
  MeshResource,
  PeerAuthenticationResource,
  RequestAuthenticationResource,
  ServiceEntryResource,
  TelemetryResource,
  VirtualServiceResource,
} from "../resources/resource.js";
import { resourceRefOf } from "../resources/resource.js";
import { ClusterRegistry } from "./compile-clusters.js";
import { compileRoute } from "./compile-routes.js";
import { compileEgressCredentials, compileEgressTable } from "./compile-egress.js";
import { compileSecurity, DEFAULT_ROOT_NAMESPACE } from "./compile-security.js";
import { compileTelemetry } from "./compile-telemetry.js";
import { contentVersion } from "./hash.js";
import { hostPatternsIntersect } from "./hosts.js";
import { buildPathIndex } from "./path-index.js";
import { SNAPSHOT_FORMAT, type CompiledGateway, type CompiledRoute, type HostTable, type Snapshot, type VirtualHost } from "./schema.js";

/**
 * Compiles a whole set of resources into one immutable Snapshot, or every cross-resource issue
 * found (unknown hosts and subsets, weights that sum to zero, hosts claimed twice). The output
 * depends only on the set, not on the order it was given in, so equal configs get equal versions.
 */

export type CompileResult = { ok: true; snapshot: Snapshot; warnings: ConfigIssue[] } | { ok: false; issues: ConfigIssue[] };

/** The gateway name Istio reserves for sidecars: a VirtualService bound only to it is not served by a gateway. */
export const MESH_GATEWAY = "mesh";

export async function compileSnapshot(resources: readonly MeshResource[]): Promise<CompileResult> {
  const sorted = [...resources].sort(compareResources);
  const ofKind = <K extends MeshResource["kind"]>(kind: K) => sorted.filter((r): r is Extract<MeshResource, { kind: K }> => r.kind === kind);
  const gateways = ofKind("Gateway") as GatewayResource[];
  const virtualServices = ofKind("VirtualService") as VirtualServiceResource[];
  const serviceEntries = ofKind("ServiceEntry") as ServiceEntryResource[];
  const destinationRules = ofKind("DestinationRule") as DestinationRuleResource[];

  const registry = new ClusterRegistry(serviceEntries, destinationRules);
  const issues: ConfigIssue[] = [...registry.issues];
  const warnings: ConfigIssue[] = [];
  const secured = compileSecurity(
    {
      meshConfigs: ofKind("MeshConfig") as MeshConfigResource[],
      gateways,
      authorizationPolicies: ofKind("AuthorizationPolicy") as AuthorizationPolicyResource[],
      requestAuthentications: ofKind("RequestAuthentication") as RequestAuthenticationResource[],
      peerAuthentications: ofKind("PeerAuthentication") as PeerAuthenticationResource[],
      servedNamespaces: new Set([...serviceEntries, ...virtualServices].map((resource) => resource.metadata.namespace)),
    },
    issues,
    warnings,
  );
  const gatewayNames = new Set(gateways.map((gateway) => `${gateway.metadata.namespace}/${gateway.metadata.name}`));

  const routes: CompiledRoute[] = [];
  const virtualHosts: VirtualHost[] = [];
  const compiledGateways: CompiledGateway[] = gateways.map((gateway) => ({
    name: `${gateway.metadata.namespace}/${gateway.metadata.name}`,
    selector: gateway.spec.selector ?? {},
    serverHosts: [...new Set(gateway.spec.servers.flatMap((server) => server.hosts.map((host) => host.host)))],
    ports: gateway.spec.servers.map((server) => ({
      number: server.port.number,
      protocol: server.port.protocol,
      ...(server.port.name !== undefined ? { name: server.port.name } : {}),
    })),
    virtualHosts: { exact: {}, wildcard: [], any: undefined } as HostTable,
  }));
  const hostOwners = new Map<string, string>();

  for (const vs of virtualServices) {
    const vsName = `${vs.metadata.namespace}/${vs.metadata.name}`;
    const qualifyGateway = (name: string): string | undefined => {
      if (name === MESH_GATEWAY) return MESH_GATEWAY;
      const qualified = name.includes("/") ? name : `${vs.metadata.namespace}/${name}`;
      return gatewayNames.has(qualified) ? qualified : undefined;
    };

    const bound: CompiledGateway[] = [];
    (vs.spec.gateways ?? []).forEach((name, index) => {
      const qualified = qualifyGateway(name);
      if (qualified === undefined) {
        issues.push({ code: "ERR_CONFIG_REFERENCE", resource: resourceRefOf(vs), path: `spec.gateways[${index}]`, message: `unknown gateway '${name}' (known: ${[...gatewayNames].join(", ") || "none"})` });
      } else if (qualified !== MESH_GATEWAY) bound.push(compiledGateways.find((gateway) => gateway.name === qualified)!);
    });

    const vhostRoutes: number[] = [];
    const routeMatches: CompiledRoute["matches"][] = [];
    (vs.spec.http ?? []).forEach((route, index) => {
      const compiled = compileRoute(route, {
        virtualService: vs,
        index,
        clusters: registry,
        issues,
        qualifyGateway,
        ...(secured.defaultRetries !== undefined ? { defaultRetries: secured.defaultRetries } : {}),
      });
      if (!compiled) return;
      vhostRoutes.push(routes.length);
      routeMatches.push(compiled.matches);
      routes.push(compiled);
    });
    if (bound.length === 0) {
      // Istio binds a VirtualService without `gateways` to sidecars ("mesh") only: legal, but a
      // gateway never serves it, which is rarely what a user of this project means.
      warnings.push({
        code: "WARN_CONFIG_NOT_SERVED",
        resource: resourceRefOf(vs),
        path: "spec.gateways",
        message: vs.spec.gateways === undefined
          ? "no gateways: bound to 'mesh' only (Istio's default), so no gateway serves it; add spec.gateways"
          : "bound to 'mesh' only, so no gateway serves it",
      });
      continue;
    }

    const vhostId = virtualHosts.length;
    virtualHosts.push({ virtualService: vsName, hosts: vs.spec.hosts, routes: vhostRoutes, pathIndex: buildPathIndex(routeMatches) });

    for (const gateway of bound) {
      const source = gateways.find((g) => `${g.metadata.namespace}/${g.metadata.name}` === gateway.name)!;
      vs.spec.hosts.forEach((host, hostIndex) => {
        const served = source.spec.servers.some((server) =>
          server.hosts.some(
            (serverHost) =>
              (serverHost.namespace === "*" ||
                (serverHost.namespace === "." ? source.metadata.namespace : serverHost.namespace) === vs.metadata.namespace) &&
              hostPatternsIntersect(serverHost.host, host),
          ),
        );
        if (!served) {
          issues.push({
            code: "ERR_CONFIG_REFERENCE",
            resource: resourceRefOf(vs),
            path: `spec.hosts[${hostIndex}]`,
            message: `host '${host}' is not exposed by any server of Gateway ${gateway.name} (server hosts: ${gateway.serverHosts.join(", ")})`,
          });
          return;
        }
        const ownerKey = `${gateway.name} ${host}`;
        const owner = hostOwners.get(ownerKey);
        if (owner !== undefined && owner !== vsName) {
          issues.push({
            code: "ERR_CONFIG_CONFLICT",
            resource: resourceRefOf(vs),
            path: `spec.hosts[${hostIndex}]`,
            message: `host '${host}' on Gateway ${gateway.name} is already routed by VirtualService ${owner}`,
          });
          return;
        }
        hostOwners.set(ownerKey, vsName);
        addHost(gateway.virtualHosts, host, vhostId);
      });
    }
  }

  const credentials = compileEgressCredentials(ofKind("EgressCredential") as EgressCredentialResource[], serviceEntries, destinationRules, issues, secured.security);
  const rootNamespace = (ofKind("MeshConfig") as MeshConfigResource[])[0]?.spec.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const telemetry = compileTelemetry(ofKind("Telemetry") as TelemetryResource[], rootNamespace, issues, warnings);
  if (issues.length > 0) return { ok: false, issues };

  for (const gateway of compiledGateways) {
    gateway.virtualHosts.wildcard.sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]));
    if (gateway.virtualHosts.any === undefined) delete gateway.virtualHosts.any;
  }
  const egress = compileEgressTable(serviceEntries, destinationRules, credentials);
  const body = {
    resources: sorted.map(resourceRefOf),
    gateways: compiledGateways,
    virtualHosts,
    routes,
    clusters: sortedRecord(registry.clusters),
    ...(secured.security ? { security: secured.security } : {}),
    ...(secured.mesh ? { mesh: secured.mesh } : {}),
    ...(egress ? { egress } : {}),
    ...(telemetry ? { telemetry } : {}),
  };
  const version = await contentVersion(JSON.stringify({ format: SNAPSHOT_FORMAT, ...body }));
  const snapshot: Snapshot = { format: SNAPSHOT_FORMAT, version, ...body };
  return { ok: true, snapshot, warnings };
}

function addHost(table: HostTable, host: string, vhostId: number): void {
  if (host === "*") table.any = vhostId;
  else if (host.startsWith("*.")) table.wildcard.push([host.slice(1), vhostId]);
  else table.exact[host] = vhostId;
}

function compareResources(a: MeshResource, b: MeshResource): number {
  return (
    a.kind.localeCompare(b.kind) ||
    a.metadata.namespace.localeCompare(b.metadata.namespace) ||
    a.metadata.name.localeCompare(b.metadata.name)
  );
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
