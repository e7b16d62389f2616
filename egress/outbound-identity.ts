import { issueJwtSvid } from "../policies/identity/issue.js";
import { importJwtSvidSigningKey, type JwtSvidSigningKey } from "../policies/identity/jwt-svid-key.js";

/**
 * Mints the JWT-SVIDs the egress sends out for its callers (EgressCredential workloadIdentity),
 * signed with the mesh CA's JWT-SVID key, so the external service verifies them against the
 * mesh's bundle like any JWT-SVID. A token is reused while more than half of its lifetime is
 * left: a caller calling an API in a loop costs one signature per half-lifetime, not one per call.
 */
export class OutboundJwtSvidMinter {
  private key: Promise<JwtSvidSigningKey> | undefined;
  private readonly minted = new Map<string, { token: string; renewAtMs: number }>();

  constructor(
    private readonly keyPem: string | undefined,
    private readonly maxCached = 1000,
  ) {}

  get configured(): boolean {
    return this.keyPem !== undefined;
  }

  /** A JWT-SVID for `spiffeId` with `audience`; throws when the key is missing or unusable. */
  async mint(spiffeId: string, audience: string, ttlMs: number, nowMs: number): Promise<string> {
    const cacheKey = `${spiffeId}\n${audience}\n${ttlMs}`;
    const cached = this.minted.get(cacheKey);
    if (cached && cached.renewAtMs > nowMs) return cached.token;
    if (this.keyPem === undefined) throw new TypeError("MESH_JWT_SVID_KEY is not set");
    this.key ??= importJwtSvidSigningKey(this.keyPem);
    const key = await this.key;
    const token = await issueJwtSvid({ privateKey: key.privateKey, kid: key.kid, spiffeId, audience, now: nowMs, ttlMs });
    if (this.minted.size >= this.maxCached) this.minted.clear();
    this.minted.set(cacheKey, { token, renewAtMs: nowMs + ttlMs / 2 });
    return token;
  }
}
