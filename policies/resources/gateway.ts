import { z } from "zod";
import { HostName, istioObject, Labels, PortNumber } from "./common.js";

/** networking.istio.io Gateway: which hosts the ingress worker accepts. */

export const GatewayPort = istioObject(
  {
    number: PortNumber,
    name: z.string().optional(),
    protocol: z.enum(["HTTP", "HTTPS", "HTTP2", "GRPC"], {
      error: () => "protocol must be one of HTTP, HTTPS, HTTP2, GRPC (TCP/TLS listeners are not supported by a worker)",
    }),
  },
  ["targetPort"],
);

/** Server hosts may be `namespace/host`; the namespace part limits which VirtualServices may bind. */
export const GatewayHost = z.string().transform((value, ctx) => {
  const slash = value.indexOf("/");
  const namespace = slash === -1 ? "*" : value.slice(0, slash);
  const host = HostName.safeParse(slash === -1 ? value : value.slice(slash + 1));
  if (!host.success) {
    for (const issue of host.error.issues) ctx.addIssue({ code: "custom", message: issue.message });
    return z.NEVER;
  }
  return { namespace, host: host.data };
});

export const GatewayServer = istioObject(
  {
    port: GatewayPort,
    hosts: z.array(GatewayHost).min(1, "a server needs at least one host"),
    name: z.string().optional(),
  },
  ["tls", "bind", "defaultEndpoint"],
);

export const GatewaySpec = istioObject({
  selector: Labels.optional(),
  servers: z.array(GatewayServer).min(1, "a Gateway needs at least one server"),
});
export type GatewaySpec = z.infer<typeof GatewaySpec>;
