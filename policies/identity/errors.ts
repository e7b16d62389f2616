/**
 * Identity errors, jose-style: a stable `code` that names the SPIFFE, X.509 or JWT rule that
 * broke, and a message for people. Callers branch on codes; tests assert on codes.
 *
 * A bad *input* (certificate, token, SPIFFE ID) is an IdentityError; a bad *option* (the
 * programmer's mistake, e.g. a clock skew above the bound) is a TypeError.
 */

export type SpiffeIdErrorCode =
  | "ERR_SPIFFE_ID_EMPTY"
  | "ERR_SPIFFE_ID_TOO_LONG"
  | "ERR_SPIFFE_ID_SCHEME"
  | "ERR_SPIFFE_ID_TRUST_DOMAIN_MISSING"
  | "ERR_SPIFFE_ID_TRUST_DOMAIN_TOO_LONG"
  | "ERR_SPIFFE_ID_TRUST_DOMAIN_CHARS"
  | "ERR_SPIFFE_ID_USERINFO"
  | "ERR_SPIFFE_ID_PORT"
  | "ERR_SPIFFE_ID_QUERY"
  | "ERR_SPIFFE_ID_FRAGMENT"
  | "ERR_SPIFFE_ID_PERCENT_ENCODED"
  | "ERR_SPIFFE_ID_PATH_EMPTY_SEGMENT"
  | "ERR_SPIFFE_ID_PATH_DOT_SEGMENT"
  | "ERR_SPIFFE_ID_PATH_TRAILING_SLASH"
  | "ERR_SPIFFE_ID_PATH_CHARS";

export type X509SvidErrorCode =
  | "ERR_SVID_CHAIN_EMPTY"
  | "ERR_SVID_CHAIN_TOO_LONG"
  | "ERR_SVID_MALFORMED"
  | "ERR_SVID_URI_SAN_MISSING"
  | "ERR_SVID_URI_SAN_MULTIPLE"
  | "ERR_SVID_SPIFFE_ID_INVALID"
  | "ERR_SVID_LEAF_ID_NO_PATH"
  | "ERR_SVID_LEAF_IS_CA"
  | "ERR_SVID_LEAF_KEY_USAGE_MISSING"
  | "ERR_SVID_LEAF_NO_DIGITAL_SIGNATURE"
  | "ERR_SVID_LEAF_KEY_CERT_SIGN"
  | "ERR_SVID_LEAF_CRL_SIGN"
  | "ERR_SVID_LEAF_EXTENDED_KEY_USAGE"
  | "ERR_SVID_SIGNING_CERT_NOT_CA"
  | "ERR_SVID_SIGNING_CERT_NO_KEY_CERT_SIGN"
  | "ERR_SVID_SIGNING_CERT_ID_HAS_PATH"
  | "ERR_SVID_PATH_LENGTH"
  | "ERR_SVID_UNSUPPORTED_CRITICAL_EXTENSION"
  | "ERR_SVID_SIGNATURE_ALGORITHM"
  | "ERR_SVID_NOT_YET_VALID"
  | "ERR_SVID_EXPIRED"
  | "ERR_SVID_NO_BUNDLE"
  | "ERR_SVID_UNTRUSTED"
  | "ERR_SVID_SIGNATURE";

export type JwtErrorCode =
  | "ERR_JWT_MALFORMED"
  | "ERR_JWT_ALGORITHM"
  | "ERR_JWT_TYPE"
  | "ERR_JWT_UNSUPPORTED"
  | "ERR_JWT_ISSUER_NOT_CONFIGURED"
  | "ERR_JWT_KEYS_UNAVAILABLE"
  | "ERR_JWT_UNKNOWN_KID"
  | "ERR_JWT_KEY_MISMATCH"
  | "ERR_JWT_SIGNATURE"
  | "ERR_JWT_AUDIENCE"
  | "ERR_JWT_EXP_MISSING"
  | "ERR_JWT_EXPIRED"
  | "ERR_JWT_NOT_YET_VALID"
  | "ERR_JWT_ISSUED_IN_FUTURE"
  | "ERR_JWT_CLAIM_INVALID"
  /** JWT-SVID only: `sub` is missing or not a valid SPIFFE ID. */
  | "ERR_JWT_SVID_SUBJECT"
  /** JWT-SVID only: no JWT bundle (no `jwt-svid` keys) for the subject's trust domain. */
  | "ERR_JWT_SVID_NO_BUNDLE";

export type XfccErrorCode = "ERR_XFCC_SYNTAX" | "ERR_XFCC_CERT" | "ERR_XFCC_CHAIN_MISMATCH" | "ERR_RFC9440_SYNTAX";

export type TrustBundleErrorCode = "ERR_BUNDLE_MALFORMED" | "ERR_BUNDLE_KEY_INVALID" | "ERR_BUNDLE_FETCH";

export type IdentityErrorCode = SpiffeIdErrorCode | X509SvidErrorCode | JwtErrorCode | XfccErrorCode | TrustBundleErrorCode;

export class IdentityError<Code extends IdentityErrorCode = IdentityErrorCode> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class SpiffeIdError extends IdentityError<SpiffeIdErrorCode> {}

export class X509SvidError extends IdentityError<X509SvidErrorCode> {
  constructor(
    code: X509SvidErrorCode,
    message: string,
    /** Position in the verified path: 0 is the leaf; undefined when no one certificate is at fault. */
    readonly certificate?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export class JwtError extends IdentityError<JwtErrorCode> {
  constructor(
    code: JwtErrorCode,
    message: string,
    /** The claim or header at fault, when there is one. */
    readonly claim?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export class XfccError extends IdentityError<XfccErrorCode> {}

export class TrustBundleError extends IdentityError<TrustBundleErrorCode> {}
