import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments, type Document } from "yaml";
import { generateCaSecrets, loadMeshCa, type CaSecrets } from "../../control/ca/authority.js";

/**
 * The local mesh CA of `npm start`: generated once per trust domain and kept under
 * `<MESH_HOME>/ca/<trust domain>/` (directory 0700, files 0600), then handed to the control
 * worker as its MESH_CA_KEY / MESH_CA_CERT / MESH_JWT_SVID_KEY bindings.
 */

const FILES = { caKeyPem: "ca-key.pem", caCertPem: "ca.pem", jwtKeyPem: "jwt-svid-key.pem" } as const;

export async function localCa(home: string, trustDomain: string): Promise<{ secrets: CaSecrets; dir: string; generated: boolean }> {
  const dir = path.join(home, "ca", trustDomain);
  const read = await Promise.all(Object.values(FILES).map((name) => readFile(path.join(dir, name), "utf8").catch(() => undefined)));
  if (read.every((text) => text !== undefined)) {
    const [caKeyPem, caCertPem, jwtKeyPem] = read as [string, string, string];
    return { secrets: { caKeyPem, caCertPem, jwtKeyPem }, dir, generated: false };
  }
  const secrets = await generateCaSecrets(trustDomain);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const [key, name] of Object.entries(FILES)) await writeFile(path.join(dir, name), secrets[key as keyof CaSecrets], { mode: 0o600 });
  return { secrets, dir, generated: true };
}

/** The trust domain of the config's MeshConfig (Istio's default `cluster.local`), and whether it has one. */
export function meshTrustDomain(configText: string): { trustDomain: string; hasMeshConfig: boolean } {
  const meshConfig = meshConfigDocument(parseAllDocuments(configText) as Document[]);
  const trustDomain = meshConfig?.getIn(["spec", "trustDomain"]);
  return { trustDomain: typeof trustDomain === "string" ? trustDomain : "cluster.local", hasMeshConfig: meshConfig !== undefined };
}

/**
 * The config with the CA's SPIFFE bundle added inline to its MeshConfig's `trustBundles` for the
 * CA's trust domain, so gateways verify the SVIDs the control API issues without ever calling
 * the control plane. Unchanged when there is no MeshConfig or it already has a bundle for that
 * trust domain (yours wins).
 */
export async function withCaBundle(configText: string, secrets: CaSecrets): Promise<{ text: string; added: boolean; trustDomain: string }> {
  const ca = await loadMeshCa(secrets);
  const documents = parseAllDocuments(configText) as Document[];
  const meshConfig = meshConfigDocument(documents);
  if (!meshConfig) return { text: configText, added: false, trustDomain: ca.trustDomain };
  const existing = meshConfig.getIn(["spec", "trustBundles"]);
  const listed = (existing as { toJSON?: () => unknown } | undefined)?.toJSON?.() as { trustDomain?: string }[] | undefined;
  if (listed?.some((source) => source.trustDomain === ca.trustDomain)) return { text: configText, added: false, trustDomain: ca.trustDomain };
  meshConfig.setIn(["spec", "trustBundles"], [...(listed ?? []), { trustDomain: ca.trustDomain, spiffeBundle: ca.bundle }]);
  return { text: documents.map((document) => document.toString()).join("---\n"), added: true, trustDomain: ca.trustDomain };
}

function meshConfigDocument(documents: Document[]): Document | undefined {
  return documents.find((document) => document.get("kind") === "MeshConfig" && String(document.get("apiVersion") ?? "").startsWith("mesh.istio.io/"));
}
