import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * Bundles a worker entry into one ES module that workerd runs as is, with the same esbuild
 * wrangler uses (pinned to wrangler's version in package.json) and the settings wrangler applies
 * to a worker without `nodejs_compat`: ESM, browser platform, the `workerd`/`worker`/`browser`
 * export conditions, ES2022, everything inlined except the runtime's own `cloudflare:*` modules.
 */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_WORKER_ENTRY = path.join(REPO_ROOT, "gateway/index.ts");

export interface BundleWorkerOptions {
  /** The worker's entry module; default `gateway/index.ts`. */
  entry?: string;
  /**
   * Where to write the bundle. Default: a fresh temporary directory per call, so concurrent
   * test processes never overwrite each other's bundle.
   */
  outFile?: string;
  /** Minify the bundle (off by default: readable stack traces matter more locally). */
  minify?: boolean;
}

/** Bundles the worker and returns the absolute path of the written `.mjs` file. */
export async function bundleWorker(options: BundleWorkerOptions = {}): Promise<string> {
  const entry = path.resolve(REPO_ROOT, options.entry ?? DEFAULT_WORKER_ENTRY);
  const outFile = options.outFile
    ? path.resolve(options.outFile)
    : path.join(await mkdtemp(path.join(tmpdir(), "mesh-worker-")), `${path.basename(entry).replace(/\.[cm]?[jt]sx?$/, "")}.mjs`);

  await build({
    entryPoints: [entry],
    outfile: outFile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*"],
    sourcemap: "linked",
    minify: options.minify ?? false,
    keepNames: true,
    legalComments: "none",
    logLevel: "silent",
    absWorkingDir: REPO_ROOT,
    tsconfig: path.join(REPO_ROOT, "tsconfig.json"),
    define: { "process.env.NODE_ENV": '"production"' },
  });
  return outFile;
}
