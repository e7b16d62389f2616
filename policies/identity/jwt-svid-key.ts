import { calculateJwkThumbprint, exportJWK, importPKCS8, type JWK } from "jose";

/**
 * The mesh's JWT-SVID signing key (`MESH_JWT_SVID_KEY`, PKCS#8 PEM, EC P-256), as the CA and
 * the egress gateway both use it. Its `kid` is its RFC 7638 thumbprint, so the kid a token
 * names and the key the bundle publishes cannot drift apart between the two workers.
 */

export interface JwtSvidSigningKey {
  privateKey: CryptoKey;
  kid: string;
  /** The public members of the key (no `d`), as published in the bundle. */
  publicJwk: JWK;
}

/** The kid and public JWK of an extractable JWT-SVID private key. */
export async function jwtSvidKeyId(privateKey: CryptoKey): Promise<{ kid: string; publicJwk: JWK }> {
  const { d: _d, ...publicJwk } = await exportJWK(privateKey);
  return { kid: await calculateJwkThumbprint(publicJwk as JWK), publicJwk: publicJwk as JWK };
}

/** Imports the PEM; throws a TypeError naming the setting when it is not an EC P-256 PKCS#8 key. */
export async function importJwtSvidSigningKey(pem: string, settingName = "MESH_JWT_SVID_KEY"): Promise<JwtSvidSigningKey> {
  let privateKey: CryptoKey;
  try {
    privateKey = await importPKCS8(pem, "ES256", { extractable: true });
  } catch (error) {
    throw new TypeError(`${settingName} is not an EC P-256 PKCS#8 private key (${(error as Error).message})`);
  }
  return { privateKey, ...(await jwtSvidKeyId(privateKey)) };
}
