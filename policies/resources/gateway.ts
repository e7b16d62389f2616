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

/**
 * Istio's ServerTLSSettings. TLS itself is terminated in front of the worker (by the platform or
 * a front proxy), so what the gateway enforces is the client side: `MUTUAL` (and its alias
 * `ISTIO_MUTUAL`: certificates are always checked against the mesh's trust bundles) requires a
 * verified client X.509-SVID for the server's hosts, `OPTIONAL_MUTUAL` uses one when present,
 * `SIMPLE` asks for none. `subjectAltNames` restricts which client SANs are accepted.
 * `credentialName` names the front's server certificate and is recorded only.
 */
export const ServerTLSSettings = istioObject(
  {
    mode: z
      .enum(["SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL", "PASSTHROUGH", "AUTO_PASSTHROUGH"], {
        error: () => "tls.mode must be one of SIMPLE, MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL",
      })
      .refine((mode) => mode !== "PASSTHROUGH" && mode !== "AUTO_PASSTHROUGH", "tls.mode PASSTHROUGH/AUTO_PASSTHROUGH cannot be served by a worker (it only sees HTTP)")
      .default("SIMPLE"),
    credentialName: z.string().min(1).optional(),
    subjectAltNames: z.array(z.string().min(1)).min(1).optional(),
  },
  [
    "httpsRedirect",
    "serverCertificate",
    "privateKey",
    "caCertificates",
    "caCrl",
    "credentialNames",
    "tlsCertificates",
    "verifyCertificateSpki",
    "verifyCertificateHash",
    "minProtocolVersion",
    "maxProtocolVersion",
    "cipherSuites",
  ],
);
export type ServerTLSSettings = z.infer<typeof ServerTLSSettings>;

export const GatewayServer = istioObject(
  {
    port: GatewayPort,
    hosts: z.array(GatewayHost).min(1, "a server needs at least one host"),
    name: z.string().optional(),
    tls: ServerTLSSettings.optional(),
  },
  ["bind", "defaultEndpoint"],
);

export const GatewaySpec = istioObject({
  selector: Labels.optional(),
  servers: z.array(GatewayServer).min(1, "a Gateway needs at least one server"),
});
export type GatewaySpec = z.infer<typeof GatewaySpec>;
