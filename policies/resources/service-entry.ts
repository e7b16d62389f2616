import { z } from "zod";
import { HostName, istioObject, Labels, PortNumber, ExportTo } from "./common.js";

/**
 * networking.istio.io ServiceEntry: with no Kubernetes, this is the service registry. Its
 * endpoints (address, per-port-name ports, labels) are what DestinationRule subsets select.
 */

export const ServicePort = istioObject({
  number: PortNumber,
  protocol: z
    .enum(["HTTP", "HTTPS", "HTTP2", "GRPC"], {
      error: () => "protocol must be one of HTTP, HTTPS, HTTP2, GRPC (a worker proxies HTTP only)",
    })
    .default("HTTP"),
  name: z.string().min(1, "a port needs a name"),
  targetPort: PortNumber.optional(),
});

export const WorkloadEntry = istioObject(
  {
    address: z.string().min(1, "an endpoint needs an address"),
    ports: z.record(z.string(), PortNumber).optional(),
    labels: Labels.optional(),
    weight: z.number().int().min(1).max(4_294_967_295).optional(),
  },
  ["network", "locality", "serviceAccount"],
);

export const ServiceEntrySpec = istioObject(
  {
    hosts: z.array(HostName).min(1, "a ServiceEntry needs at least one host"),
    exportTo: ExportTo.optional(),
    ports: z.array(ServicePort).min(1, "a ServiceEntry needs at least one port"),
    location: z.enum(["MESH_EXTERNAL", "MESH_INTERNAL"]).default("MESH_EXTERNAL"),
    resolution: z.enum(["STATIC", "DNS", "DNS_ROUND_ROBIN", "NONE"], {
      error: () => "resolution must be one of STATIC, DNS, DNS_ROUND_ROBIN, NONE",
    }).default("NONE"),
    endpoints: z.array(WorkloadEntry).optional(),
  },
  ["addresses", "workloadSelector", "subjectAltNames"],
);
export type ServiceEntrySpec = z.infer<typeof ServiceEntrySpec>;
