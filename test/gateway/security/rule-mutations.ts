/**
 * Checks that every security rule has a test that fails without it (docs/security.md, "Every
 * rule is tested"): each entry removes or weakens one rule in the source, runs the tests that
 * cover it, and expects them to fail; the source is restored after each. Not part of
 * `npm test` (it runs the suites ~90 times, a few minutes):
 *
 *   npx tsx test/gateway/security/rule-mutations.ts            # all
 *   npx tsx test/gateway/security/rule-mutations.ts 4 17       # some, by index
 *
 * Exit code 1 if a mutation survives (a rule no test protects) or a pattern no longer matches.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface Mutation {
  rule: string;
  file: string;
  find: string;
  replace: string;
  tests: string[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const MUTATIONS: Mutation[] = [
  {
    "rule": "uri san missing",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (uris.length === 0) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "uri san multiple",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (uris.length > 1) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "uri san is spiffe id",
    "file": "policies/identity/x509-svid.ts",
    "find": "spiffeId = parseSpiffeId(uris[0]!);",
    "replace": "spiffeId = { trustDomain: uris[0]!.split(\"/\")[2] ?? \"\", path: \"/\" + uris[0]!.split(\"/\").slice(3).join(\"/\"), uri: uris[0]! };",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf id has path",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (spiffeId.path === \"\") throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf not CA",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (leaf.getExtension(BasicConstraintsExtension)?.ca === true) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf KU present",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (!keyUsage) throw",
    "replace": "if (!keyUsage) return spiffeId; if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf digitalSignature",
    "file": "policies/identity/x509-svid.ts",
    "find": "if ((keyUsage.usages & KeyUsageFlags.digitalSignature) === 0) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf no keyCertSign",
    "file": "policies/identity/x509-svid.ts",
    "find": "if ((keyUsage.usages & KeyUsageFlags.keyCertSign) !== 0) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf no cRLSign",
    "file": "policies/identity/x509-svid.ts",
    "find": "if ((keyUsage.usages & KeyUsageFlags.cRLSign) !== 0) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "leaf EKU clientAuth",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (requireClientAuth && eku) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "signing cert is CA",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (certificate.getExtension(BasicConstraintsExtension)?.ca !== true) {\n    throw new X509SvidError(\"ERR_SVID_SIGNING_CERT_NOT_CA\"",
    "replace": "if (false) {\n    throw new X509SvidError(\"ERR_SVID_SIGNING_CERT_NOT_CA\"",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "signing cert keyCertSign",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (!keyUsage || (keyUsage.usages & KeyUsageFlags.keyCertSign) === 0) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "signing cert id no path",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (!id || id.path !== \"\") {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "pathLenConstraint",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (limit !== undefined && below > limit) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "unknown critical extension",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (extension.critical && !UNDERSTOOD.has(extension.type)) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "signature algorithm",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (!acceptable) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "notBefore",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (now + skew < certificate.notBefore.getTime()) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "notAfter",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (now - skew > certificate.notAfter.getTime()) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "anchor validity",
    "file": "policies/identity/x509-svid.ts",
    "find": "checkValidity(anchor, path.length, context.now, context.skew, \"trust anchor\");",
    "replace": "",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "signature of each link",
    "file": "policies/identity/x509-svid.ts",
    "find": "return await subject.verify({ publicKey: issuer.publicKey, signatureOnly: true }, crypto);",
    "replace": "return true;",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "bundle of the SVID trust domain",
    "file": "policies/identity/x509-svid.ts",
    "find": "let bundle = await bundles(spiffeId.trustDomain);",
    "replace": "let bundle = (await bundles(spiffeId.trustDomain)) ?? (await bundles(\"acme.test\"));",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "chain length",
    "file": "policies/identity/x509-svid.ts",
    "find": "if (chain.length > maxLength) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "bounded skew",
    "file": "policies/identity/x509-svid.ts",
    "find": "const skew = checkClockSkew(options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS);",
    "replace": "const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;",
    "tests": [
      "test/policies/identity/x509-svid.test.ts"
    ]
  },
  {
    "rule": "id length",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (text.length > MAX_SPIFFE_ID_BYTES) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "scheme lowercase",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (!text.startsWith(SPIFFE_SCHEME)) {",
    "replace": "if (!text.toLowerCase().startsWith(SPIFFE_SCHEME)) {",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "fragment",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (hash !== -1) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "query",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (question !== -1) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "userinfo",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (authority.includes(\"@\")) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "port",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (authority.includes(\":\")) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "td length",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (authority.length > MAX_TRUST_DOMAIN_BYTES) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "td charset",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (!TRUST_DOMAIN_CHAR.test(char)) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "dot segments",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (segment === \".\" || segment === \"..\") {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "path charset",
    "file": "policies/identity/spiffe-id.ts",
    "find": "if (!PATH_CHAR.test(char)) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "trailing slash",
    "file": "policies/identity/spiffe-id.ts",
    "find": "      if (index === segments.length - 1) throw",
    "replace": "      if (false) throw",
    "tests": [
      "test/policies/identity/spiffe-id.test.ts"
    ]
  },
  {
    "rule": "alg allowlist",
    "file": "policies/identity/jwt.ts",
    "find": "if (typeof alg !== \"string\" || !options.algorithms.includes(alg)) {",
    "replace": "if (typeof alg !== \"string\") {",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "typ",
    "file": "policies/identity/jwt.ts",
    "find": "if (options.allowedTypes && header.typ !== undefined && !options.allowedTypes.includes(header.typ)) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "kid lookup",
    "file": "policies/identity/jwt.ts",
    "find": "const found = keys.filter((key) => key.kid === kid);",
    "replace": "const found = [...keys];",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "key fits alg",
    "file": "policies/identity/jwt.ts",
    "find": "const usable = found.filter((key) => keyFits(key, alg));",
    "replace": "const usable = found;",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "iat future",
    "file": "policies/identity/jwt.ts",
    "find": "if (iat !== undefined && iat * 1000 > options.now + skewMs) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "exp required",
    "file": "policies/identity/jwt.ts",
    "find": "requiredClaims: options.requireExp === false ? [] : [\"exp\"],",
    "replace": "requiredClaims: [],",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "aud",
    "file": "policies/identity/jwt.ts",
    "find": "...(options.audiences !== undefined ? { audience: [...options.audiences] } : {}),",
    "replace": "",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "exp/nbf use now",
    "file": "policies/identity/jwt.ts",
    "find": "currentDate: new Date(options.now),",
    "replace": "currentDate: new Date(0),",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "sub spiffe id",
    "file": "policies/identity/jwt-svid.ts",
    "find": "spiffeId = parseSpiffeId(payload.sub);",
    "replace": "spiffeId = { trustDomain: payload.sub.split(\"/\")[2] ?? \"\", path: \"\", uri: payload.sub };",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "bundle of sub trust domain",
    "file": "policies/identity/jwt-svid.ts",
    "find": "const bundle = await bundles(spiffeId.trustDomain, refresh ? { refresh: true } : undefined);",
    "replace": "const bundle = (await bundles(spiffeId.trustDomain, refresh ? { refresh: true } : undefined)) ?? (await bundles(\"acme.test\"));",
    "tests": [
      "test/policies/identity/jwt-svid.test.ts"
    ]
  },
  {
    "rule": "xfcc escape",
    "file": "policies/identity/xfcc.ts",
    "find": "if (char === \"\\\\\" && value[index + 1] === '\"') {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/xfcc.test.ts"
    ]
  },
  {
    "rule": "xfcc chain starts with cert",
    "file": "policies/identity/xfcc.ts",
    "find": "if (cert && !sameBytes(cert[0]!, chain[0]!)) throw",
    "replace": "if (false) throw",
    "tests": [
      "test/policies/identity/xfcc.test.ts"
    ]
  },
  {
    "rule": "platform verified only",
    "file": "policies/identity/client-cert.ts",
    "find": "fields.certVerified !== \"SUCCESS\" ||",
    "replace": "",
    "tests": [
      "test/policies/identity/client-cert.test.ts"
    ]
  },
  {
    "rule": "platform not revoked",
    "file": "policies/identity/client-cert.ts",
    "find": "|| fields.certRevoked === \"1\"",
    "replace": "",
    "tests": [
      "test/policies/identity/client-cert.test.ts"
    ]
  },
  {
    "rule": "bundle CA only",
    "file": "policies/identity/trust-bundle.ts",
    "find": "if (certificate.getExtension(BasicConstraintsExtension)?.ca !== true) {",
    "replace": "if (false) {",
    "tests": [
      "test/policies/identity/trust-bundle.test.ts"
    ]
  },
  {
    "rule": "bundle no private keys",
    "file": "policies/identity/trust-bundle.ts",
    "find": "    if (privateMember in jwk) {",
    "replace": "    if (false) {",
    "tests": [
      "test/policies/identity/trust-bundle.test.ts"
    ]
  },
  {
    "rule": "dot segments",
    "file": "policies/paths/normalize.ts",
    "find": "path = removeDotSegments(encoded.path);",
    "replace": "path = encoded.path;",
    "tests": [
      "test/policies/paths/normalize.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "decode unreserved",
    "file": "policies/paths/normalize.ts",
    "find": "out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;",
    "replace": "out += `%${hex.toUpperCase()}`;",
    "tests": [
      "test/policies/paths/normalize.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "escaped slash reject",
    "file": "policies/paths/normalize.ts",
    "find": "} else if ((options.escapedSlashes ?? \"REJECT\") === \"REJECT\" && /%(2f|5c)/i.test(path)) {",
    "replace": "} else if (false) {",
    "tests": [
      "test/policies/paths/normalize.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "BASE // reject",
    "file": "policies/paths/normalize.ts",
    "find": "if (path.includes(\"//\")) return",
    "replace": "if (false) return",
    "tests": [
      "test/policies/paths/normalize.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "NUL reject",
    "file": "policies/paths/normalize.ts",
    "find": "if (code === 0) return",
    "replace": "if (false) return",
    "tests": [
      "test/policies/paths/normalize.test.ts"
    ]
  },
  {
    "rule": "backslash",
    "file": "policies/paths/normalize.ts",
    "find": "path = path.replace(/\\\\/g, \"/\");",
    "replace": "",
    "tests": [
      "test/policies/paths/normalize.test.ts"
    ]
  },
  {
    "rule": "stage: normalised path used by routing/authz",
    "file": "gateway/stages/path-normalization.ts",
    "find": "c.set(\"request\", { ...c.get(\"request\"), path });",
    "replace": "",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "stage: normalised path sent upstream",
    "file": "gateway/stages/path-normalization.ts",
    "find": "outbound.pathAndQuery = path + (queryStart",
    "replace": "void (path + (queryStart",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "DENY first",
    "file": "policies/authz/evaluate.ts",
    "find": "  for (const policy of policies) {\n    if (policy.action !== \"DENY\") continue;",
    "replace": "  for (const policy of []) {\n    if (policy.action !== \"DENY\") continue;",
    "tests": [
      "test/policies/authz/evaluate.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "no ALLOW means allow",
    "file": "policies/authz/evaluate.ts",
    "find": "  if (allows.length === 0) return { allowed: true, reason: \"no-policy\", audit };",
    "replace": "  if (allows.length === 0) return { allowed: false, reason: \"no-policy\", audit };",
    "tests": [
      "test/policies/authz/evaluate.test.ts"
    ]
  },
  {
    "rule": "not-fields",
    "file": "policies/authz/evaluate.ts",
    "find": "  if (notValues && notValues.some(test)) return false;",
    "replace": "",
    "tests": [
      "test/policies/authz/evaluate.test.ts"
    ]
  },
  {
    "rule": "path ignore case",
    "file": "policies/authz/evaluate.ts",
    "find": "const ignoreCase = request.pathIgnoreCase === true;",
    "replace": "const ignoreCase = false;",
    "tests": [
      "test/policies/authz/evaluate.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "trust domain aliases",
    "file": "policies/authz/evaluate.ts",
    "find": "if (this.aliases.size < 2) return false;",
    "replace": "return false;",
    "tests": [
      "test/policies/authz/evaluate.test.ts"
    ]
  },
  {
    "rule": "* needs a value",
    "file": "policies/authz/match.ts",
    "find": "if (pattern === \"*\") return value.length > 0;",
    "replace": "if (pattern === \"*\") return true;",
    "tests": [
      "test/policies/authz/evaluate.test.ts"
    ]
  },
  {
    "rule": "strip identity headers",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "for (const name of owned) c.get(\"outbound\").headers.delete(name);",
    "replace": "",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "hide identity headers from routing/authz",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "c.set(\"request\", { ...view, header: (name) => (owned.has(name.toLowerCase()) ? null : view.header(name)) });",
    "replace": "",
    "tests": [
      "test/gateway/security/authorization.test.ts",
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "proxy secret compare",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "if (settings.MESH_PROXY_SECRET === undefined || !timingSafeEqual(proxyAuth, settings.MESH_PROXY_SECRET)) {",
    "replace": "if (false) {",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "XFCC only from trusted proxy",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "      if (trustedProxy) {",
    "replace": "      if (true) {",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts",
      "test/gateway/security/platform-mtls.test.ts"
    ]
  },
  {
    "rule": "platform mtls",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "      } else if (platform?.chain) {",
    "replace": "      } else if (false) {",
    "tests": [
      "test/gateway/security/platform-mtls.test.ts"
    ]
  },
  {
    "rule": "proxy trusted by platform cert",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "if (platform?.fingerprintSha256 !== undefined && settings.MESH_TRUSTED_PROXY_CERT_SHA256.has(platform.fingerprintSha256)) trustedProxy = true;",
    "replace": "",
    "tests": [
      "test/gateway/security/platform-mtls.test.ts"
    ]
  },
  {
    "rule": "STRICT/MUTUAL require SVID",
    "file": "gateway/stages/peer-authentication.ts",
    "find": "if (required && !identity.peer) {",
    "replace": "if (false) {",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts",
      "test/gateway/security/tls-front.test.ts"
    ]
  },
  {
    "rule": "refuse invalid certificate",
    "file": "gateway/stages/peer-authentication.ts",
    "find": "    if (!verified.ok) {",
    "replace": "    if (false) {",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "subjectAltNames",
    "file": "gateway/stages/peer-authentication.ts",
    "find": "if (tls?.subjectAltNames && !tls.subjectAltNames.some(",
    "replace": "if (false && tls?.subjectAltNames && !tls.subjectAltNames.some(",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "DISABLE ignores certs",
    "file": "gateway/stages/peer-authentication.ts",
    "find": "const used = mode !== \"DISABLE\" ||",
    "replace": "const used = true ||",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "MUTUAL server",
    "file": "gateway/stages/peer-authentication.ts",
    "find": "const required = mode === \"STRICT\" || tls?.mode === \"MUTUAL\";",
    "replace": "const required = mode === \"STRICT\";",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "malformed token 401",
    "file": "gateway/stages/request-authentication.ts",
    "find": "        if (covering.length === 0) continue;",
    "replace": "        continue;",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "unknown issuer 401",
    "file": "gateway/stages/request-authentication.ts",
    "find": "      if (covering.length > 0) {\n        throw unauthenticated(new JwtError(\"ERR_JWT_ISSUER_NOT_CONFIGURED\"",
    "replace": "      if (false) {\n        throw unauthenticated(new JwtError(\"ERR_JWT_ISSUER_NOT_CONFIGURED\"",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "forwardOriginalToken false",
    "file": "gateway/stages/request-authentication.ts",
    "find": "        if (!rule.forwardOriginalToken) removeToken(location, outbound);",
    "replace": "",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "JWT-SVID not forwarded",
    "file": "gateway/stages/request-authentication.ts",
    "find": "        removeToken(location, outbound);\n        continue;",
    "replace": "        continue;",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "refresh on unknown kid",
    "file": "gateway/stages/request-authentication.ts",
    "find": "    ({ keys, generation } = await security.keysFor(rule, now, { refresh: true }));",
    "replace": "",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "X.509 wins over JWT-SVID",
    "file": "gateway/stages/request-authentication.ts",
    "find": "if (!identity.peer) {\n          identity.peer = { spiffeId: svid, via: \"jwt-svid\" };",
    "replace": "if (true) {\n          identity.peer = { spiffeId: svid, via: \"jwt-svid\" };",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "authz enforced",
    "file": "gateway/stages/authorization.ts",
    "find": "    if (!decision.allowed) {",
    "replace": "    if (false) {",
    "tests": [
      "test/gateway/security/authorization.test.ts",
      "test/gateway/security/tls-front.test.ts"
    ]
  },
  {
    "rule": "401 with challenge",
    "file": "gateway/stages/authorization.ts",
    "find": "      if (decision.missing) {",
    "replace": "      if (false) {",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "XFCC SANITIZE_SET",
    "file": "gateway/stages/identity-headers.ts",
    "find": "      headers.set(\"x-forwarded-client-cert\", formatXfccElement({ by: [identity.security.gatewayId], hash: svid.hash, subject: svid.subject, uri: [svid.spiffeId.uri] }));",
    "replace": "",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts",
      "test/gateway/security/tls-front.test.ts"
    ]
  },
  {
    "rule": "route header ops cannot set identity headers",
    "file": "gateway/stages/identity-headers.ts",
    "find": "    for (const name of IDENTITY_HEADERS) headers.delete(name);",
    "replace": "",
    "tests": [
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "JWT-SVID audience",
    "file": "gateway/security/state.ts",
    "find": "    this.jwtSvidAudiences = [this.gatewayId, ...(config?.jwtSvidAudiences ?? [])];",
    "replace": "    this.jwtSvidAudiences = [this.gatewayId, \"spiffe://acme.test/ns/other/sa/service\", ...(config?.jwtSvidAudiences ?? [])];",
    "tests": [
      "test/gateway/security/peer-authentication.test.ts"
    ]
  },
  {
    "rule": "service binding: subjectAltNames",
    "file": "gateway/stages/peer-authentication.ts",
    "find": "if (tls?.subjectAltNames && !tls.subjectAltNames.includes(spiffeId.uri)) {",
    "replace": "if (false) {",
    "tests": [
      "test/gateway/security/service-binding.test.ts"
    ]
  },
  {
    "rule": "service binding: ctx.props.spiffeId must be a SPIFFE ID",
    "file": "policies/identity/binding-props.ts",
    "find": "return { kind: \"caller\", spiffeId: parseSpiffeId(text) };",
    "replace": "return { kind: \"caller\", spiffeId: { uri: text, trustDomain: text.split(\"/\")[2] ?? \"\", path: \"\" } };",
    "tests": [
      "test/egress/service-binding.test.ts"
    ]
  },
  {
    "rule": "egress: unregistered host blocked",
    "file": "egress/stages/outbound-route.ts",
    "find": "if (gateway === PASSTHROUGH_GATEWAY && route.name === BLOCK_ALL_ROUTE) {",
    "replace": "if (false) {",
    "tests": [
      "test/egress/egress.test.ts"
    ]
  },
  {
    "rule": "egress: credential secret masked in response bodies",
    "file": "egress/stages/outbound-credentials.ts",
    "find": "const body = response.body ? maskSecretInStream(response.body, secret) : null;",
    "replace": "const body = response.body;",
    "tests": [
      "test/egress/credentials.test.ts"
    ]
  },
  {
    "rule": "egress: minted JWT-SVID only for the mesh's trust domain",
    "file": "egress/stages/outbound-credentials.ts",
    "find": "if (trustDomain !== undefined && parseSpiffeId(caller).trustDomain !== trustDomain) {",
    "replace": "if (false) {",
    "tests": [
      "test/egress/credentials.test.ts"
    ]
  },
  {
    "rule": "egress: credentials never over plain HTTP",
    "file": "policies/snapshot/compile-egress.ts",
    "find": "      if (cleartext) {",
    "replace": "      if (false) {",
    "tests": [
      "test/egress/credentials.test.ts"
    ]
  },
  {
    "rule": "gateway: /__mesh/ never routed under another spelling",
    "file": "gateway/stages/path-normalization.ts",
    "find": "if (path.toLowerCase().startsWith(MESH_PREFIX)) {",
    "replace": "if (false) {",
    "tests": [
      "test/gateway/routing.test.ts"
    ]
  },
  {
    "rule": "authorization judges paths without ;parameters too",
    "file": "policies/authz/evaluate.ts",
    "find": "const bare = withoutPathParameters(request.path);",
    "replace": "const bare = request.path;",
    "tests": [
      "test/policies/authz/evaluate.test.ts",
      "test/gateway/security/authorization.test.ts"
    ]
  },
  {
    "rule": "CA: a service binding obtains only a SPIFFE ID registered with serviceBinding",
    "file": "control/ca/authorize.ts",
    "find": "if (registrations.some((registration) => registration.serviceBinding === true && registration.spiffeId === spiffeId)) {",
    "replace": "if (true) {",
    "tests": [
      "test/control/ca.test.ts"
    ]
  },
  {
    "rule": "binding callers and the egress do not believe request.cf.tlsClientAuth",
    "file": "gateway/stages/identity-sanitize.ts",
    "find": "const platform = settings.MESH_PLATFORM_MTLS === \"on\" && !viaBinding ? platformClientCert(",
    "replace": "const platform = true ? platformClientCert(",
    "tests": [
      "test/egress/service-binding.test.ts"
    ]
  },
  {
    "rule": "egress: credentials refused at run time over plain HTTP off the machine",
    "file": "egress/stages/outbound-credentials.ts",
    "find": "if (isCleartextOffMachine(cluster)) {",
    "replace": "if (false) {",
    "tests": [
      "test/egress/cleartext-guard.test.ts"
    ]
  },
  {
    "rule": "egress: an https call is never downgraded",
    "file": "policies/egress/outbound.ts",
    "find": "if (candidates.length === 0) {",
    "replace": "if (false) {",
    "tests": [
      "test/egress/service-binding.test.ts"
    ]
  },
  {
    "rule": "no mesh identity headers to a host outside the mesh",
    "file": "gateway/stages/identity-headers.ts",
    "find": "if (destination && isMeshExternalCluster(c.get(\"config\").table.snapshot, destination.cluster.cluster)) return next();",
    "replace": "",
    "tests": [
      "test/egress/egress.test.ts",
      "test/egress/service-binding.test.ts"
    ]
  },
  {
    "rule": "egress: an https call routed to a plain-HTTP destination is refused",
    "file": "egress/stages/outbound-route.ts",
    "find": "if (cluster && cluster.scheme !== \"https\") {",
    "replace": "if (false) {",
    "tests": [
      "test/egress/service-binding.test.ts"
    ]
  },
  {
    "rule": "authorization: a segment of parameters only (/;/admin) is gone in the bare path",
    "file": "policies/authz/evaluate.ts",
    "find": ".replace(/\\/{2,}/g, \"/\")",
    "replace": "",
    "tests": [
      "test/policies/authz/evaluate.test.ts"
    ]
  },
  {
    "rule": "a binding with any props does not carry request.cf",
    "file": "policies/identity/binding-props.ts",
    "find": "return typeof props === \"object\" && props !== null && Object.keys(props).length > 0;",
    "replace": "return typeof props === \"object\" && props !== null && \"spiffeId\" in props;",
    "tests": [
      "test/gateway/security/service-binding.test.ts"
    ]
  },
  {
    "rule": "metrics: a wildcard's per-host cluster is labelled by the wildcard",
    "file": "gateway/telemetry/request-facts.ts",
    "find": "host: cluster.labelHost ?? cluster.host,",
    "replace": "host: cluster.host,",
    "tests": [
      "test/egress/cleartext-guard.test.ts"
    ]
  }
];

function main(): void {
  const only = new Set(process.argv.slice(2).map(Number));
  let failed = 0;
  MUTATIONS.forEach((mutation, index) => {
    if (only.size > 0 && !only.has(index)) return;
    const file = path.join(ROOT, mutation.file);
    const source = readFileSync(file, "utf8");
    const count = source.split(mutation.find).length - 1;
    if (count !== 1) {
      console.log(`${index} ${mutation.rule}: PATTERN FOUND ${count} TIMES in ${mutation.file}`);
      failed++;
      return;
    }
    writeFileSync(file, source.replace(mutation.find, () => mutation.replace));
    try {
      const run = spawnSync("npx", ["vitest", "run", ...mutation.tests], { cwd: ROOT, encoding: "utf8" });
      const killed = run.status !== 0;
      if (!killed) failed++;
      console.log(`${index} ${mutation.rule}: ${killed ? "caught" : "NOT CAUGHT"}`);
    } finally {
      writeFileSync(file, source);
    }
  });
  process.exit(failed > 0 ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
