import { z } from "zod";
import { Duration, istioObject } from "./common.js";
import { TARGET_REF_FIELDS, WorkloadSelector } from "./security-common.js";

/**
 * security.istio.io RequestAuthentication: which end-user JWTs (issuer, keys, audiences, where
 * the token travels) a request may carry. A token that fails is refused; a missing token is
 * allowed (an AuthorizationPolicy may then require one).
 */

/** `https://...`, or `http://` to a loopback host (local development): keys fetched in the clear could be swapped. */
export const KeySetUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `'${value}' is not a URL` });
    return;
  }
  const loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    ctx.addIssue({ code: "custom", message: `'${value}' must be an https:// URL (http:// is accepted for localhost only)` });
  }
  if (url.username || url.password) ctx.addIssue({ code: "custom", message: `'${value}' must not carry credentials` });
});

/** An inline JWKS (JSON text) of public keys. */
export const InlineJwks = z.string().superRefine((text, ctx) => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: "custom", message: "jwks is not valid JSON" });
    return;
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) {
    ctx.addIssue({ code: "custom", message: "jwks must be a JSON Web Key Set ({\"keys\": [...]})" });
    return;
  }
  keys.forEach((key, index) => {
    if (typeof key !== "object" || key === null || typeof (key as { kty?: unknown }).kty !== "string") {
      ctx.addIssue({ code: "custom", message: `jwks.keys[${index}] is not a JWK (no kty)` });
      return;
    }
    for (const member of ["d", "p", "q", "dp", "dq", "qi", "k"]) {
      if (member in key) ctx.addIssue({ code: "custom", message: `jwks.keys[${index}] contains private or symmetric key material ('${member}'); only public keys are accepted` });
    }
  });
});

export const JwtHeader = istioObject({ name: z.string().min(1), prefix: z.string().optional() });

export const ClaimToHeader = istioObject({
  header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a valid header name"),
  claim: z.string().min(1),
});

export const JwtRule = istioObject(
  {
    issuer: z.string().min(1, "issuer is required"),
    audiences: z.array(z.string().min(1)).optional(),
    jwksUri: KeySetUrl.optional(),
    jwks: InlineJwks.optional(),
    fromHeaders: z.array(JwtHeader).optional(),
    fromParams: z.array(z.string().min(1)).optional(),
    fromCookies: z.array(z.string().min(1)).optional(),
    outputPayloadToHeader: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a valid header name").optional(),
    forwardOriginalToken: z.boolean().optional(),
    outputClaimToHeaders: z.array(ClaimToHeader).optional(),
    timeout: Duration.optional(),
  },
  ["spaceDelimitedClaims"],
).superRefine((rule, ctx) => {
  if (rule.jwks === undefined && rule.jwksUri === undefined) {
    ctx.addIssue({ code: "custom", message: "set jwks or jwksUri (OpenID discovery from the issuer is not supported yet)" });
  }
});
export type JwtRule = z.infer<typeof JwtRule>;

export const RequestAuthenticationSpec = istioObject(
  {
    selector: WorkloadSelector.optional(),
    jwtRules: z.array(JwtRule).optional(),
  },
  TARGET_REF_FIELDS,
);
export type RequestAuthenticationSpec = z.infer<typeof RequestAuthenticationSpec>;
