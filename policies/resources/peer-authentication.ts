import { z } from "zod";
import { istioObject } from "./common.js";
import { WorkloadSelector } from "./security-common.js";

/**
 * security.istio.io PeerAuthentication: whether callers must prove a workload identity with an
 * X.509-SVID (mTLS, terminated in front of the gateway). STRICT requires one, PERMISSIVE uses
 * one when present, DISABLE ignores it; UNSET inherits.
 */
export const PeerAuthenticationSpec = istioObject(
  {
    selector: WorkloadSelector.optional(),
    mtls: istioObject({
      mode: z.enum(["UNSET", "DISABLE", "PERMISSIVE", "STRICT"], { error: () => "mtls.mode must be one of UNSET, DISABLE, PERMISSIVE, STRICT" }).default("UNSET"),
    }).optional(),
  },
  ["portLevelMtls"],
);
export type PeerAuthenticationSpec = z.infer<typeof PeerAuthenticationSpec>;
