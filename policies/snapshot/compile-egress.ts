import type { ConfigIssue } from "../errors.js";
import { OUTBOUND_JWT_TTL } from "../resources/egress-credential.js";
import type { DestinationRuleResource, EgressCredentialResource, ServiceEntryResource } from "../resources/resource.js";
import { resourceRefOf } from "../resources/resource.js";
import { ClusterRegistry } from "./compile-clusters.js";
import { hostMatchesPattern, hostPatternsIntersect, isCleartextOffMachine } from "./hosts.js";
import type { Cluster, CompiledEgressCredential, EgressTable, ExternalService } from "./schema.js";

/**
 * The egress gateway's registry: every host a `MESH_EXTERNAL` ServiceEntry declares (exact or
 * `*.` wildcard) with one cluster per port, so a call to an external host with no VirtualService
 * still has somewhere to go (Istio's passthrough to the ServiceEntry host). The clusters are
 * built by a registry of their own, apart from the routed `clusters`, so the ingress's snapshot
 * content is unchanged; their keys are the same `host||port` a route would use, and a
 * DestinationRule for the host applies to them. Undefined when no external host is declared.
 */
export function compileEgressTable(
  serviceEntries: readonly ServiceEntryResource[],
  destinationRules: readonly DestinationRuleResource[],
  credentials: readonly CompiledEgressCredential[] = [],
): EgressTable | undefined {
  const registry = new ClusterRegistry(serviceEntries, destinationRules);
  const services: ExternalService[] = [];
  const clusters: Record<string, Cluster> = {};
  for (const entry of serviceEntries) {
    if (entry.spec.location !== "MESH_EXTERNAL") continue;
    const serviceEntry = `${entry.metadata.namespace}/${entry.metadata.name}`;
    for (const host of entry.spec.hosts) {
      const ports: ExternalService["ports"] = [];
      for (const port of entry.spec.ports) {
        const resolved = registry.resolve({ host, port: { number: port.number } });
        // A host declared twice is the cluster registry's issue to report (the snapshot fails).
        if (!resolved.ok || resolved.cluster.serviceEntry !== serviceEntry) continue;
        clusters[resolved.cluster.key] = resolved.cluster;
        ports.push({ number: port.number, protocol: port.protocol, cluster: resolved.cluster.key });
      }
      if (ports.length > 0) services.push({ host, serviceEntry, ports });
    }
  }
  // A DestinationRule (or EgressCredential) for a concrete host that only a wildcard declares
  // gets a service of its own, resolved for that host, so its TLS origination applies at run
  // time exactly as this compiler (and the credential check) saw it, not the wildcard's cluster.
  const declared = new Set(services.map((service) => service.host));
  const concreteHosts = new Set([...destinationRules.map((rule) => rule.spec.host), ...credentials.flatMap((credential) => credential.hosts)].filter((host) => !host.includes("*") && !declared.has(host)));
  for (const host of [...concreteHosts].sort()) {
    const wildcard = services.filter((service) => service.host.startsWith("*.") && hostMatchesPattern(host, service.host)).sort((a, b) => b.host.length - a.host.length)[0];
    if (!wildcard) continue;
    const ports: ExternalService["ports"] = [];
    for (const port of wildcard.ports) {
      const resolved = registry.resolve({ host, port: { number: port.number } });
      if (!resolved.ok) continue;
      const cluster = { ...resolved.cluster, endpoints: resolved.cluster.endpoints.map((endpoint) => ({ ...endpoint, address: endpoint.address.includes("*") ? host : endpoint.address })) };
      clusters[cluster.key] = cluster;
      ports.push({ number: port.number, protocol: port.protocol, cluster: cluster.key });
    }
    if (ports.length > 0) services.push({ host, serviceEntry: wildcard.serviceEntry, ports });
  }
  if (services.length === 0) return undefined;
  services.sort((a, b) => a.host.localeCompare(b.host));
  return {
    services,
    clusters: Object.fromEntries(Object.entries(clusters).sort(([a], [b]) => a.localeCompare(b))),
    ...(credentials.length > 0 ? { credentials: [...credentials] } : {}),
  };
}

/**
 * EgressCredentials, checked against the registry: every host must be one a MESH_EXTERNAL
 * ServiceEntry declares (a credential never goes inside the mesh), and a host gets its
 * credentials from one resource only, so which secret a call carries is never ambiguous.
 */
export function compileEgressCredentials(
  resources: readonly EgressCredentialResource[],
  serviceEntries: readonly ServiceEntryResource[],
  destinationRules: readonly DestinationRuleResource[],
  issues: ConfigIssue[],
  /** The mesh's identity settings: a minted JWT-SVID's audience must not be one the mesh's gateways accept. */
  mesh?: { trustDomain: string; trustDomainAliases: readonly string[]; jwtSvidAudiences: readonly string[] },
): CompiledEgressCredential[] {
  const external = serviceEntries.filter((entry) => entry.spec.location === "MESH_EXTERNAL");
  const externalHosts = external.flatMap((entry) => entry.spec.hosts);
  const registry = resources.length > 0 ? new ClusterRegistry(serviceEntries, destinationRules) : undefined;
  const owners = new Map<string, string>();
  const compiled: CompiledEgressCredential[] = [];
  for (const resource of resources) {
    const name = `${resource.metadata.namespace}/${resource.metadata.name}`;
    const ref = resourceRefOf(resource);
    let ok = true;
    resource.spec.hosts.forEach((host, index) => {
      if (!externalHosts.some((declared) => hostPatternsIntersect(declared, host))) {
        issues.push({ code: "ERR_CONFIG_REFERENCE", resource: ref, path: `spec.hosts[${index}]`, message: `no MESH_EXTERNAL ServiceEntry declares host '${host}' (credentials are only sent out of the mesh)` });
        ok = false;
      } else if (!externalHosts.some((declared) => declared === host || (declared.startsWith("*.") && hostMatchesPattern(host.startsWith("*.") ? host.slice(2) : host, declared) && (!host.startsWith("*.") || host.length >= declared.length)))) {
        // A credential host wider than what is declared (`*.example.com` over `vault.example.com`) would name hosts nobody declared.
        issues.push({ code: "ERR_CONFIG_REFERENCE", resource: ref, path: `spec.hosts[${index}]`, message: `host '${host}' is wider than the MESH_EXTERNAL hosts that declare it (${externalHosts.filter((declared) => hostPatternsIntersect(declared, host)).join(", ")}): name those hosts` });
        ok = false;
      }
      const cleartext = registry && plainHttpCluster(registry, external, host);
      if (cleartext) {
        issues.push({
          code: "ERR_CONFIG_INSECURE",
          resource: ref,
          path: `spec.hosts[${index}]`,
          message: `the credential would leave in cleartext: ${cleartext} is plain HTTP to a non-loopback address; originate TLS (DestinationRule trafficPolicy.tls mode SIMPLE) or declare the port HTTPS`,
        });
        ok = false;
      }
      const owner = owners.get(host);
      if (owner !== undefined) {
        issues.push({ code: "ERR_CONFIG_CONFLICT", resource: ref, path: `spec.hosts[${index}]`, message: `host '${host}' already gets its credentials from EgressCredential ${owner}` });
        ok = false;
      } else owners.set(host, name);
    });
    const audience = resource.spec.workloadIdentity?.audience;
    if (audience !== undefined && mesh && acceptedInMesh(audience, mesh)) {
      // A token for the caller with such an audience would let the external API call the mesh's gateways as the caller.
      issues.push({ code: "ERR_CONFIG_INSECURE", resource: ref, path: "spec.workloadIdentity.audience", message: `audience '${audience}' is one the mesh's own gateways accept (a SPIFFE ID of trust domain ${mesh.trustDomain}, or MeshConfig jwtSvid.audiences): the external API could replay the caller's token to them` });
      ok = false;
    }
    if (!ok) continue;
    const { inject, workloadIdentity } = resource.spec;
    compiled.push({
      name,
      hosts: resource.spec.hosts,
      ...(inject ? { inject: { header: inject.header, secretName: inject.secretName, prefix: inject.prefix ?? "" } } : {}),
      ...(workloadIdentity
        ? {
            workloadIdentity: {
              header: workloadIdentity.header,
              prefix: workloadIdentity.prefix ?? "",
              ...(workloadIdentity.audience !== undefined ? { audience: workloadIdentity.audience } : {}),
              ttlMs: workloadIdentity.ttl ?? OUTBOUND_JWT_TTL.defaultMs,
            },
          }
        : {}),
    });
  }
  return compiled;
}

/**
 * A cluster of `host` (or of the external hosts a wildcard credential host covers) that would
 * carry the credential as plain HTTP off this machine; loopback endpoints (a local stand-in)
 * are allowed, as nothing leaves the host.
 */
function plainHttpCluster(registry: ClusterRegistry, external: readonly ServiceEntryResource[], host: string): string | undefined {
  for (const entry of external) {
    for (const declared of entry.spec.hosts) {
      if (!hostPatternsIntersect(declared, host)) continue;
      const concrete = declared.includes("*") && !host.includes("*") ? host : declared;
      for (const port of entry.spec.ports) {
        const resolved = registry.resolve({ host: concrete, port: { number: port.number } });
        if (!resolved.ok || resolved.cluster.scheme === "https") continue;
        if (resolved.cluster.endpoints.length === 0 || isCleartextOffMachine(resolved.cluster)) return `${concrete} port ${port.number}`;
      }
    }
  }
  return undefined;
}

function acceptedInMesh(audience: string, mesh: { trustDomain: string; trustDomainAliases: readonly string[]; jwtSvidAudiences: readonly string[] }): boolean {
  if (mesh.jwtSvidAudiences.includes(audience)) return true;
  return [mesh.trustDomain, ...mesh.trustDomainAliases].some((domain) => audience === `spiffe://${domain}` || audience.startsWith(`spiffe://${domain}/`));
}
