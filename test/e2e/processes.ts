import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";

/**
 * The end-to-end tests' processes, as a user runs them: `npm start -- <args>` in its own process
 * group (so npm, tsx and workerd stop together), and `meshctl` from the repo root.
 */

export const MESHCTL_BIN = path.join(REPO_ROOT, "control/cli/meshctl.mjs");

/** The banner's first and last lines: once the last is out, every line before it is too. */
export const INGRESS_READY = /mesh-ingress listening on (http:\/\/\S+)/;
export const BANNER_END = /Ctrl-C to stop\./;

export interface NpmStart {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnNpmStart(args: readonly string[], env: NodeJS.ProcessEnv): NpmStart {
  let output = "";
  const child = spawn("npm", ["start", "--", ...args], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits for the whole banner (it arrives in chunks) and returns it; throws with the output if npm start exits or stalls first. */
export async function waitForBanner(started: NpmStart, timeoutMs = 45_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void started.exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    const output = started.output();
    if (INGRESS_READY.test(output) && BANNER_END.test(output)) return output;
    if (exitCode !== undefined) throw new Error(`npm start exited (${exitCode}) before it was ready:\n${output}`);
    await sleep(100);
  }
  throw new Error(`npm start was not ready within ${timeoutMs} ms:\n${started.output()}`);
}

/** The URL a banner line `<name> listening on <url>` gives. */
export function listeningUrl(banner: string, name: "mesh-ingress" | "mesh-egress" | "mesh-control"): URL {
  const match = new RegExp(`${name} listening on (http://\\S+)`).exec(banner);
  if (!match) throw new Error(`the banner has no '${name} listening on' line:\n${banner}`);
  return new URL(match[1]!);
}

/** SIGTERM to the process group, SIGKILL if it is still there after 15 s. */
export async function stopNpmStart(started: NpmStart | undefined): Promise<void> {
  const pid = started?.child.pid;
  if (!started || pid === undefined || started.child.exitCode !== null) return;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const exited = await Promise.race([started.exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!exited) process.kill(-pid, "SIGKILL");
}

export interface MeshctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs meshctl from the repo root (as the README does); `npx` runs it through the package's bin. */
export function runMeshctl(args: readonly string[], env: NodeJS.ProcessEnv, options: { npx?: boolean } = {}): Promise<MeshctlResult> {
  const [command, argv] = options.npx ? ["npx", ["meshctl", ...args]] : [process.execPath, [MESHCTL_BIN, ...args]];
  return new Promise((resolve) => {
    execFile(command, argv, { cwd: REPO_ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.replace(/^npm warn .*\n/gm, "") });
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
