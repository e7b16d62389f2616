import type { Upstream } from "../support/upstream.js";

/**
 * Builds test configs around real upstreams: one Gateway for `*.test`, and a ServiceEntry whose
 * endpoints are the given upstreams on 127.0.0.1, labelled with their version, plus a
 * DestinationRule with one subset per version.
 */
export function gatewayYaml(): string {
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: mesh }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*.test"]
`;
}

export interface ServiceOptions {
  trafficPolicy?: string;
  /** Extra endpoints that are not upstreams, e.g. a closed port. */
  extraEndpoints?: { port: number; version: string }[];
}

export function serviceYaml(host: string, upstreams: readonly Upstream[], options: ServiceOptions = {}): string {
  const name = host.split(".")[0]!;
  const endpoints = [
    ...upstreams.map((upstream) => ({ port: upstream.port, version: upstream.version })),
    ...(options.extraEndpoints ?? []),
  ];
  const versions = [...new Set(endpoints.map((endpoint) => endpoint.version))];
  return `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: mesh }
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints:
${endpoints.map((endpoint) => `  - { address: 127.0.0.1, ports: { http: ${endpoint.port} }, labels: { version: ${endpoint.version} } }`).join("\n")}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: mesh }
spec:
  host: ${host}
${options.trafficPolicy ? `  trafficPolicy:\n${indent(options.trafficPolicy, 4)}\n` : ""}  subsets:
${versions.map((version) => `  - { name: ${version}, labels: { version: ${version} } }`).join("\n")}
`;
}

export function virtualServiceYaml(name: string, hosts: string[], http: string): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: mesh }
spec:
  hosts: [${hosts.join(", ")}]
  gateways: [ingress]
  http:
${indent(http, 2)}
`;
}

function indent(text: string, spaces: number): string {
  const pad = " ".repeat(spaces);
  return text
    .trim()
    .split("\n")
    .map((line) => pad + line)
    .join("\n");
}

/** Counts how many of `n` draws with probability `p` may deviate from n·p before a test calls it wrong: 4.5 standard deviations. */
export function binomialTolerance(n: number, p: number): number {
  return Math.ceil(4.5 * Math.sqrt(n * p * (1 - p)));
}
