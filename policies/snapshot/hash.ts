/** The content hash that names a snapshot version: SHA-256 over its canonical JSON, first 16 hex digits. */
export async function contentVersion(canonicalJson: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson));
  const bytes = new Uint8Array(digest);
  let hex = "";
  for (let index = 0; index < 8; index++) hex += bytes[index]!.toString(16).padStart(2, "0");
  return hex;
}
