import { z } from "zod";
import { Duration, HostName, istioObject } from "./common.js";

/**
 * mesh.istio.io/v1alpha1 EgressCredential: what the egress gateway adds to calls it sends to
 * some external hosts, so that callers never hold the credential. Istio has no such resource
 * (Envoy has the credential_injector filter); the config names a secret, never its value.
 *
 * - `inject`: a secret of the egress worker (a Workers secret, read from its `env` by name) put
 *   in a header, optionally after a prefix (`Bearer `). The caller's own header of that name is
 *   replaced.
 * - `workloadIdentity`: a short-lived JWT-SVID for the calling workload, signed by the mesh
 *   CA's JWT-SVID key, with the external host as audience, so the external service can verify
 *   who called.
 *
 * The hosts are the hosts a call is sent to (the destination's host, after routing), exact or
 * `*.` wildcards, each declared by a MESH_EXTERNAL ServiceEntry.
 */

const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Headers the gateway owns or the runtime sets: a credential may not be put there. */
const RESERVED_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "x-forwarded-client-cert", "x-request-id", "traceparent", "tracestate"]);

const CredentialHeader = z
  .string()
  .regex(HEADER_TOKEN, "not a valid header name")
  .transform((name) => name.toLowerCase())
  .refine((name) => !RESERVED_HEADERS.has(name) && !name.startsWith("x-mesh-") && !name.startsWith("x-b3-") && !name.startsWith(":"), {
    message: "a header the gateway or the runtime sets itself (host, hop-by-hop, tracing, x-mesh-*, XFCC) cannot carry a credential",
  });

/** A Workers secret is a binding of the worker's env: an identifier. */
const SecretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "secretName must name a secret of the egress worker (letters, digits, _; not starting with a digit), e.g. OPENAI_API_KEY")
  // The egress's own settings and bindings (MESH_PROXY_SECRET, MESH_JWT_SVID_KEY, MESH_CONFIG, ...)
  // are never sent out: whoever writes the config could otherwise ship them to a host of their choice.
  .refine((name) => !name.toUpperCase().startsWith("MESH_"), { message: "secretName may not name one of the egress's own settings (MESH_*): give the external credential a secret of its own" });

export const SecretInjection = istioObject({
  header: CredentialHeader.default("authorization"),
  secretName: SecretName,
  /** Put before the secret, e.g. `Bearer `. */
  prefix: z.string().regex(/^[\t\x20-\x7e]*$/, "prefix must be printable ASCII (it goes in a header)").optional(),
});
export type SecretInjection = z.infer<typeof SecretInjection>;

/** Bounds of a minted JWT-SVID's lifetime: short, as the JWT-SVID standard recommends. */
export const OUTBOUND_JWT_TTL = { defaultMs: 300_000, minMs: 10_000, maxMs: 3_600_000 } as const;

export const WorkloadIdentityInjection = istioObject({
  header: CredentialHeader.default("x-jwt-svid"),
  /** Put before the token, e.g. `Bearer ` when the header is `authorization`. */
  prefix: z.string().regex(/^[\t\x20-\x7e]*$/, "prefix must be printable ASCII (it goes in a header)").optional(),
  /** The `aud` claim; default the host the call is sent to. */
  audience: z.string().min(1).optional(),
  ttl: Duration.refine((ms) => ms >= OUTBOUND_JWT_TTL.minMs && ms <= OUTBOUND_JWT_TTL.maxMs, { message: "ttl must be between 10s and 1h" }).optional(),
});
export type WorkloadIdentityInjection = z.infer<typeof WorkloadIdentityInjection>;

export const EgressCredentialSpec = istioObject({
  hosts: z.array(HostName).min(1, "hosts needs at least one external host"),
  inject: SecretInjection.optional(),
  workloadIdentity: WorkloadIdentityInjection.optional(),
}).superRefine((spec, ctx) => {
  if (!spec.inject && !spec.workloadIdentity) ctx.addIssue({ code: "custom", message: "set inject (a secret), workloadIdentity (a JWT-SVID for the caller), or both" });
  if (spec.inject && spec.workloadIdentity && spec.inject.header === spec.workloadIdentity.header) {
    ctx.addIssue({ code: "custom", path: ["workloadIdentity", "header"], message: `inject and workloadIdentity both use header '${spec.inject.header}'` });
  }
  spec.hosts.forEach((host, index) => {
    if (host === "*") ctx.addIssue({ code: "custom", path: ["hosts", index], message: "'*' would send the credential to every host: name the hosts" });
  });
});
export type EgressCredentialSpec = z.infer<typeof EgressCredentialSpec>;
