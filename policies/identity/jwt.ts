import { decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK, type JWTHeaderParameters, type JWTPayload } from "jose";
import { JwtError } from "./errors.js";
import { checkClockSkew } from "./clock.js";

/**
 * JWT verification shared by JWT-SVIDs and end-user tokens (RequestAuthentication), with jose:
 *
 * - the `alg` header is checked against an allowlist before anything else: `none`, every
 *   `HS*` (a public key used as an HMAC secret) and anything unlisted are refused;
 * - the key comes only from the caller's key set (trust bundle or JWKS), chosen by `kid` (or,
 *   without a `kid`, every key of the right type is tried); the token's own `jwk`, `jku`,
 *   `x5u` and `x5c` headers are never read;
 * - the key must fit the algorithm (RSA for RS/PS, the matching curve for ES);
 * - then signature, `exp` (required unless told otherwise), `nbf`, `iat` (not in the future)
 *   and `aud`, with a bounded clock skew.
 */

export const JWT_SVID_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"] as const;
/** End-user tokens may also be EdDSA (Ed25519), which Envoy's jwt_authn accepts. */
export const END_USER_JWT_ALGORITHMS = [...JWT_SVID_ALGORITHMS, "EdDSA"] as const;
export const MAX_TOKEN_BYTES = 16 * 1024;

export interface VerifyJwtOptions {
  algorithms: readonly string[];
  /** Any of these in `aud` is accepted; undefined: `aud` is not checked (Istio's default for an empty `audiences`). */
  audiences?: readonly string[] | undefined;
  /** ms since the epoch */
  now: number;
  clockSkewMs: number;
  /** Default true. */
  requireExp?: boolean;
  /** When set, the `typ` header, if present, must be one of these (JWT-SVID: JWT or JOSE). */
  allowedTypes?: readonly string[];
}

export interface VerifiedJwt {
  header: JWTHeaderParameters;
  payload: JWTPayload;
}

/** The protected header and claims of a compact JWS without verifying it; throws ERR_JWT_MALFORMED. */
export function decodeUnverified(token: string): { header: JWTHeaderParameters; payload: JWTPayload } {
  if (token.length > MAX_TOKEN_BYTES) throw new JwtError("ERR_JWT_MALFORMED", `the token is longer than ${MAX_TOKEN_BYTES} bytes`);
  if (token.split(".").length !== 3) throw new JwtError("ERR_JWT_MALFORMED", "the token is not a compact JWS (header.payload.signature)");
  try {
    return { header: decodeProtectedHeader(token) as JWTHeaderParameters, payload: decodeJwt(token) };
  } catch (error) {
    throw new JwtError("ERR_JWT_MALFORMED", `the token cannot be decoded: ${(error as Error).message}`, undefined, { cause: error });
  }
}

/** Checks the header rules that come before any key is looked at. */
export function checkHeader(header: JWTHeaderParameters, options: Pick<VerifyJwtOptions, "algorithms" | "allowedTypes">): string {
  const alg = header.alg;
  if (typeof alg !== "string" || !options.algorithms.includes(alg)) {
    throw new JwtError("ERR_JWT_ALGORITHM", `alg '${String(alg)}' is not allowed (allowed: ${options.algorithms.join(", ")})`, "alg");
  }
  if (options.allowedTypes && header.typ !== undefined && !options.allowedTypes.includes(header.typ)) {
    throw new JwtError("ERR_JWT_TYPE", `typ '${header.typ}' is not allowed (allowed: ${options.allowedTypes.join(", ")})`, "typ");
  }
  return alg;
}

/** Verifies a token against a set of public keys. */
export async function verifyJwt(token: string, keys: readonly JWK[], options: VerifyJwtOptions): Promise<VerifiedJwt> {
  const skewMs = checkClockSkew(options.clockSkewMs);
  const { header } = decodeUnverified(token);
  const alg = checkHeader(header, options);
  const candidates = candidateKeys(keys, alg, header.kid);

  let lastSignatureError: unknown;
  for (const jwk of candidates) {
    let key: CryptoKey | Uint8Array;
    try {
      key = await importJWK(jwk, alg);
    } catch (error) {
      throw new JwtError("ERR_JWT_KEY_MISMATCH", `key '${jwk.kid ?? "(no kid)"}' cannot verify ${alg}: ${(error as Error).message}`, "kid", { cause: error });
    }
    try {
      const verified = await jwtVerify(token, key, {
        algorithms: [alg],
        currentDate: new Date(options.now),
        clockTolerance: skewMs / 1000,
        requiredClaims: options.requireExp === false ? [] : ["exp"],
        ...(options.audiences !== undefined ? { audience: [...options.audiences] } : {}),
      });
      const iat = verified.payload.iat;
      if (iat !== undefined && iat * 1000 > options.now + skewMs) {
        throw new JwtError("ERR_JWT_ISSUED_IN_FUTURE", `iat ${iat} is in the future`, "iat");
      }
      return { header: verified.protectedHeader, payload: verified.payload };
    } catch (error) {
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
        lastSignatureError = error;
        continue;
      }
      throw mapJoseError(error);
    }
  }
  throw new JwtError("ERR_JWT_SIGNATURE", "the signature does not verify with the trusted key", "signature", { cause: lastSignatureError });
}

function candidateKeys(keys: readonly JWK[], alg: string, kid: string | undefined): JWK[] {
  if (kid !== undefined) {
    const found = keys.filter((key) => key.kid === kid);
    if (found.length === 0) throw new JwtError("ERR_JWT_UNKNOWN_KID", `no trusted key has kid '${kid}'`, "kid");
    const usable = found.filter((key) => keyFits(key, alg));
    if (usable.length === 0) throw new JwtError("ERR_JWT_KEY_MISMATCH", `key '${kid}' cannot verify ${alg} (kty ${found[0]!.kty}${found[0]!.crv ? `/${found[0]!.crv}` : ""}${found[0]!.alg ? `, alg ${found[0]!.alg}` : ""})`, "kid");
    return usable;
  }
  const usable = keys.filter((key) => keyFits(key, alg));
  if (usable.length === 0) throw new JwtError("ERR_JWT_UNKNOWN_KID", `the token has no kid and no trusted key can verify ${alg}`, "kid");
  return usable;
}

/** Whether a JWK may verify `alg`: the family's key type, the algorithm's curve, and the key's own `alg` if it pins one. */
export function keyFits(key: JWK, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (key.use !== undefined && key.use !== "sig") return false;
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return key.kty === "RSA";
  if (alg === "ES256") return key.kty === "EC" && key.crv === "P-256";
  if (alg === "ES384") return key.kty === "EC" && key.crv === "P-384";
  if (alg === "ES512") return key.kty === "EC" && key.crv === "P-521";
  if (alg === "EdDSA") return key.kty === "OKP" && key.crv === "Ed25519";
  return false;
}

function mapJoseError(error: unknown): JwtError {
  if (error instanceof JwtError) return error;
  if (error instanceof joseErrors.JWTExpired) return new JwtError("ERR_JWT_EXPIRED", "the token has expired (exp)", "exp", { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const { claim, reason } = error;
    if (claim === "exp" && reason === "missing") return new JwtError("ERR_JWT_EXP_MISSING", "the token has no exp claim", "exp", { cause: error });
    if (claim === "nbf" && reason === "check_failed") return new JwtError("ERR_JWT_NOT_YET_VALID", "the token is not valid yet (nbf)", "nbf", { cause: error });
    if (claim === "aud") return new JwtError("ERR_JWT_AUDIENCE", reason === "missing" ? "the token has no aud claim" : "the token's aud does not include an accepted audience", "aud", { cause: error });
    return new JwtError("ERR_JWT_CLAIM_INVALID", `claim '${claim}' is invalid: ${error.message}`, claim, { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new JwtError("ERR_JWT_ALGORITHM", error.message, "alg", { cause: error });
  if (error instanceof joseErrors.JOSENotSupported) return new JwtError("ERR_JWT_UNSUPPORTED", error.message, undefined, { cause: error });
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return new JwtError("ERR_JWT_MALFORMED", error.message, undefined, { cause: error });
  return new JwtError("ERR_JWT_MALFORMED", `the token could not be verified: ${(error as Error).message}`, undefined, { cause: error });
}
