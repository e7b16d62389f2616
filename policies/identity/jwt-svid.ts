import type { JWTPayload } from "jose";
import { JwtError, SpiffeIdError } from "./errors.js";
import { DEFAULT_CLOCK_SKEW_MS } from "./clock.js";
import { checkHeader, decodeUnverified, JWT_SVID_ALGORITHMS, verifyJwt } from "./jwt.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe-id.js";
import type { BundleLookup } from "./trust-bundle.js";

/**
 * JWT-SVID verification per the SPIFFE JWT-SVID standard (JWT-SVID.md):
 *
 * - `alg` is one of RS/ES/PS 256/384/512 (§2.1), checked before anything else (§4);
 * - `typ`, if present, is `JWT` or `JOSE` (§2.3);
 * - `sub` is a valid SPIFFE ID (§3.1); its trust domain picks the JWT bundle, and the key is
 *   looked up there by `kid` (§6.2) — never taken from the token;
 * - `aud` is present and contains an expected audience (§3.2); `exp` is present and not past
 *   (§3.3); `nbf` and `iat` are honoured; all with a bounded clock skew.
 *
 * An unknown `kid` asks the bundle source once for a refresh (a rotated key of a remote bundle).
 */

export interface VerifyJwtSvidOptions {
  /** The audiences this verifier identifies with; the token's `aud` must contain one. */
  audience: string | readonly string[];
  /** ms since the epoch */
  now: number;
  /** Default 60 s, at most 5 min. */
  clockSkewMs?: number;
}

export interface VerifiedJwtSvid {
  spiffeId: SpiffeId;
  claims: JWTPayload;
  /** `exp` in ms since the epoch. */
  expiresAt: number;
}

export async function verifyJwtSvid(token: string, bundles: BundleLookup, options: VerifyJwtSvidOptions): Promise<VerifiedJwtSvid> {
  const audiences = typeof options.audience === "string" ? [options.audience] : [...options.audience];
  if (audiences.length === 0) throw new TypeError("verifyJwtSvid needs at least one expected audience");
  const { header, payload } = decodeUnverified(token);
  checkHeader(header, { algorithms: JWT_SVID_ALGORITHMS, allowedTypes: ["JWT", "JOSE"] });
  if (typeof payload.sub !== "string") throw new JwtError("ERR_JWT_SVID_SUBJECT", "a JWT-SVID needs a sub claim (the workload's SPIFFE ID)", "sub");
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(payload.sub);
  } catch (error) {
    const rule = error instanceof SpiffeIdError ? `${error.code}: ${error.message}` : String(error);
    throw new JwtError("ERR_JWT_SVID_SUBJECT", `sub is not a valid SPIFFE ID (${rule})`, "sub", { cause: error });
  }

  const verifyWith = async (refresh: boolean) => {
    const bundle = await bundles(spiffeId.trustDomain, refresh ? { refresh: true } : undefined);
    if (!bundle || bundle.jwtAuthorities.length === 0) {
      throw new JwtError("ERR_JWT_SVID_NO_BUNDLE", `no JWT-SVID keys in the trust bundle of '${spiffeId.trustDomain}'`, "sub");
    }
    return {
      bundle,
      verified: await verifyJwt(token, bundle.jwtAuthorities, {
        algorithms: JWT_SVID_ALGORITHMS,
        allowedTypes: ["JWT", "JOSE"],
        audiences,
        now: options.now,
        clockSkewMs: options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
        requireExp: true,
      }),
    };
  };

  let result;
  try {
    result = await verifyWith(false);
  } catch (error) {
    if (!(error instanceof JwtError) || (error.code !== "ERR_JWT_UNKNOWN_KID" && error.code !== "ERR_JWT_SVID_NO_BUNDLE")) throw error;
    result = await verifyWith(true);
  }
  return { spiffeId, claims: result.verified.payload, expiresAt: (result.verified.payload.exp ?? 0) * 1000 };
}
