import type { CompiledMatch, CompiledRoute, CompiledStringMatch, HostTable, Snapshot } from "../../policies/snapshot/schema.js";

/**
 * The mesh as the dashboard draws it, from one snapshot, in four columns: Gateways (and the
 * egress, with the external hosts it lets out) → the virtual
 * hosts (VirtualServices) they accept → those hosts' routes, in evaluation order → the
 * destinations (service host and subset) the routes send traffic to, with each edge's share of
 * the route's traffic (`weight / totalWeight`) and mirrors as their own edges.
 *
 * Destinations are keyed by host and subset, not by port: that is what Istio's metrics know about
 * a request (`destination_service`, `destination_version`), so live traffic attaches to them.
 */

export type NodeKind = "gateway" | "host" | "route" | "destination";

export interface GraphNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** Short lines shown under the label. */
  detail: string[];
}

export interface GraphEdge {
  from: string;
  to: string;
  /** `host`: gateway → virtual host; `route`: virtual host → route; `weight`: route → destination; `mirror`: a mirrored copy. */
  kind: "host" | "route" | "weight" | "mirror";
  label: string;
  /** For `weight` and `mirror`: the share of the route's requests (0..1). */
  share?: number;
}

export interface MeshGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** A destination node's identity, which traffic is matched on. */
export interface DestinationKey {
  id: string;
  host: string;
  subset: string | undefined;
}

export const destinationId = (host: string, subset: string | undefined) => `destination:${host}|${subset ?? ""}`;

export function meshGraph(snapshot: Snapshot): MeshGraph {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const add = (node: GraphNode) => {
    if (!nodes.has(node.id)) nodes.set(node.id, node);
    return node.id;
  };

  for (const gateway of snapshot.gateways) {
    const gatewayId = add({
      id: `gateway:${gateway.name}`,
      kind: "gateway",
      label: gateway.name,
      detail: [`hosts ${gateway.serverHosts.join(", ")}`, `ports ${gateway.ports.map((port) => `${port.number}/${port.protocol}`).join(", ")}`, `selector ${labelsText(gateway.selector)}`],
    });
    for (const [index, patterns] of hostPatterns(gateway.virtualHosts)) {
      const virtualHost = snapshot.virtualHosts[index];
      if (!virtualHost) continue;
      const hostId = add({ id: `host:${index}`, kind: "host", label: virtualHost.hosts.join(", "), detail: [`VirtualService ${virtualHost.virtualService}`] });
      edges.push({ from: gatewayId, to: hostId, kind: "host", label: patterns.join(", ") });
      virtualHost.routes.forEach((routeIndex, position) => {
        const route = snapshot.routes[routeIndex];
        if (!route) return;
        const routeId = `route:${routeIndex}`;
        if (!nodes.has(routeId)) {
          add({ id: routeId, kind: "route", label: route.name, detail: routeDetail(route) });
          for (const edge of routeEdges(snapshot, route, routeId)) {
            add(edge.destination);
            edges.push(edge.edge);
          }
        }
        if (!edges.some((edge) => edge.from === hostId && edge.to === routeId)) edges.push({ from: hostId, to: routeId, kind: "route", label: `#${position}` });
      });
    }
  }
  addEgress(snapshot, add, edges);
  return { nodes: [...nodes.values()], edges };
}

/**
 * The egress gateway's way out: the external hosts MESH_EXTERNAL ServiceEntries declare, each
 * with its passthrough route (named as the egress names it, `<namespace>/<serviceentry>:<host>`)
 * and a destination node per host that the egress's `destination_service` counts attach to.
 * Hosts a VirtualService routes at the egress are drawn by the Gateway that selects it, above.
 */
function addEgress(snapshot: Snapshot, add: (node: GraphNode) => string, edges: GraphEdge[]): void {
  const egress = snapshot.egress;
  if (!egress || egress.services.length === 0) return;
  const policy = snapshot.mesh?.outboundTrafficPolicy ?? "REGISTRY_ONLY";
  const gatewayId = add({ id: "gateway:egress", kind: "gateway", label: "egress (outbound)", detail: [`outbound traffic policy ${policy}`, "selector istio=egressgateway"] });
  for (const service of egress.services) {
    const credential = egress.credentials?.find((candidate) => candidate.hosts.includes(service.host));
    const tls = service.ports.map((port) => egress.clusters[port.cluster]?.tls?.mode).find((mode) => mode !== undefined);
    const hostId = add({ id: `external:${service.host}`, kind: "host", label: service.host, detail: [`ServiceEntry ${service.serviceEntry} (MESH_EXTERNAL)`, `ports ${service.ports.map((port) => `${port.number}/${port.protocol}`).join(", ")}`] });
    edges.push({ from: gatewayId, to: hostId, kind: "host", label: service.host });
    const routeId = add({
      id: `passthrough:${service.host}`,
      kind: "route",
      label: `${service.serviceEntry}:${service.host}`,
      detail: ["passthrough", ...(tls ? [`TLS origination ${tls}`] : []), ...(credential ? [`credential ${credential.name}`] : [])],
    });
    edges.push({ from: hostId, to: routeId, kind: "route", label: "#0" });
    const destination = add({ id: destinationId(service.host, undefined), kind: "destination", label: service.host, detail: ["external"] });
    edges.push({ from: routeId, to: destination, kind: "weight", label: "100%", share: 1 });
  }
}

/** The destinations of a graph, for matching traffic to them. */
export function destinationKeys(graph: MeshGraph): DestinationKey[] {
  return graph.nodes
    .filter((node) => node.kind === "destination")
    .map((node) => {
      const [host, subset] = node.id.slice("destination:".length).split("|") as [string, string];
      return { id: node.id, host, subset: subset === "" ? undefined : subset };
    });
}

function routeEdges(snapshot: Snapshot, route: CompiledRoute, routeId: string): { destination: GraphNode; edge: GraphEdge }[] {
  const result: { destination: GraphNode; edge: GraphEdge }[] = [];
  const destinationNode = (clusterKey: string): GraphNode | undefined => {
    const cluster = snapshot.clusters[clusterKey];
    if (!cluster) return undefined;
    const id = destinationId(cluster.host, cluster.subset);
    const ports = Object.values(snapshot.clusters)
      .filter((other) => other.host === cluster.host && other.subset === cluster.subset)
      .map((other) => other.port);
    const endpoints = cluster.endpoints.length;
    return {
      id,
      kind: "destination",
      label: cluster.host,
      detail: [`${cluster.subset !== undefined ? `subset ${cluster.subset}` : "all endpoints"} · port ${[...new Set(ports)].sort((a, b) => a - b).join(", ")}`, `${endpoints} endpoint${endpoints === 1 ? "" : "s"} · ${cluster.loadBalancer.type.replace(/_/g, " ")}`],
    };
  };
  if (route.action.type === "forward") {
    const { destinations, totalWeight } = route.action;
    for (const destination of destinations) {
      const node = destinationNode(destination.cluster);
      if (!node) continue;
      const share = destinations.length === 1 ? 1 : totalWeight > 0 ? destination.weight / totalWeight : 0;
      result.push({ destination: node, edge: { from: routeId, to: node.id, kind: "weight", label: percent(share), share } });
    }
  }
  if (route.mirror) {
    const node = destinationNode(route.mirror.cluster);
    if (node) result.push({ destination: node, edge: { from: routeId, to: node.id, kind: "mirror", label: `mirror ${percent(route.mirror.percent / 100)}`, share: route.mirror.percent / 100 } });
  }
  return result;
}

function routeDetail(route: CompiledRoute): string[] {
  const lines: string[] = [];
  const match = route.matches.map(matchText).join(" | ");
  lines.push(match === "" ? "any request" : match);
  const behaviour: string[] = [];
  if (route.action.type === "redirect") behaviour.push(`redirect ${route.action.code}`);
  if (route.action.type === "direct") behaviour.push(`direct ${route.action.status}`);
  if (route.fault?.abort) behaviour.push(`abort ${route.fault.abort.status} ${percent(route.fault.abort.percent / 100)}`);
  if (route.fault?.delay) behaviour.push(`delay ${route.fault.delay.delayMs}ms ${percent(route.fault.delay.percent / 100)}`);
  if (route.action.type === "forward" && route.retries) behaviour.push(`retries ${route.retries.attempts}`);
  if (route.action.type === "forward" && route.timeoutMs !== undefined) behaviour.push(`timeout ${route.timeoutMs}ms`);
  if (behaviour.length > 0) lines.push(behaviour.join(" · "));
  return lines;
}

/** `/reviews*, end-user=jason`: a path as written (`*` ends a prefix, `~` starts a regex), then `name=value` conditions. */
function matchText(match: CompiledMatch): string {
  const parts: string[] = [];
  if (match.uri) parts.push(stringMatchText(undefined, match.uri));
  if (match.method) parts.push(stringMatchText("method", match.method));
  if (match.authority) parts.push(stringMatchText("authority", match.authority));
  for (const header of match.headers) parts.push(stringMatchText(header.name, header.match));
  for (const header of match.withoutHeaders) parts.push(`no ${header.name}`);
  for (const query of match.queryParams) parts.push(stringMatchText(`?${query.name}`, query.match));
  if (match.port !== undefined) parts.push(`port ${match.port}`);
  return parts.join(", ");
}

function stringMatchText(name: string | undefined, match: CompiledStringMatch): string {
  if (match.type === "present") return `${name ?? "path"} present`;
  const value = match.type === "prefix" ? `${match.value}*` : match.type === "regex" ? `~${match.value}` : match.value;
  return name === undefined ? value : `${name}${match.type === "regex" ? "" : "="}${value}`;
}

/** Each virtual host a gateway's host table leads to, with the host patterns that lead there. */
function hostPatterns(table: HostTable): Map<number, string[]> {
  const patterns = new Map<number, string[]>();
  const add = (index: number, pattern: string) => patterns.set(index, [...(patterns.get(index) ?? []), pattern]);
  for (const [host, index] of Object.entries(table.exact)) add(index, host);
  for (const [suffix, index] of table.wildcard) add(index, `*${suffix}`);
  if (table.any !== undefined) add(table.any, "*");
  return new Map([...patterns.entries()].sort(([a], [b]) => a - b));
}

function labelsText(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}=${value}`);
  return pairs.length > 0 ? pairs.join(",") : "(all workloads)";
}

function percent(share: number): string {
  const value = share * 100;
  return `${Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)}%`;
}
