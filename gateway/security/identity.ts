import type { ApplicablePolicies } from "../../policies/authz/scope.js";
import type { RequestAuth } from "../../policies/authz/request.js";
import type { SpiffeId } from "../../policies/identity/spiffe-id.js";
import type { VerifiedX509Svid } from "../../policies/identity/x509-svid.js";
import type { SnapshotSecurity } from "./state.js";

/** The caller's identity for one request, filled in by the security stages in order. */
export interface RequestIdentity {
  security: SnapshotSecurity;
  /** A front proxy the gateway trusts forwarded this request (shared secret, or a platform-verified proxy certificate). */
  trustedProxy: boolean;
  /** The client certificate chain as presented, leaf first (not verified yet). */
  credential?: { source: "mtls" | "xfcc"; chain: Uint8Array<ArrayBuffer>[] } | undefined;
  /** The direct peer's address (`cf-connecting-ip`). */
  sourceIp?: string | undefined;
  /** The original client's address: the last `x-forwarded-for` entry a trusted proxy appended, else `sourceIp`. */
  remoteIp?: string | undefined;
  /** The destination's namespace (the ServiceEntry's; the VirtualService's for routes that answer at the gateway). */
  namespace?: string | undefined;
  policies?: ApplicablePolicies | undefined;
  /** The verified workload identity: an X.509-SVID (mTLS or XFCC), or a service binding's `ctx.props.spiffeId`, else a JWT-SVID. */
  peer?: { spiffeId: SpiffeId; via: "mtls" | "xfcc" | "service-binding" | "jwt-svid"; x509?: VerifiedX509Svid | undefined } | undefined;
  /** The verified end-user token. */
  requestAuth?: RequestAuth | undefined;
}
