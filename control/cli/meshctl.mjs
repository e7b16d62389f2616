#!/usr/bin/env node
// The `meshctl` bin (package.json "bin"): runs the TypeScript source through tsx, so that
// `npx meshctl` works from a checkout with no build step. tsx is a dependency for that reason.
import module from "node:module";

if (typeof module.register === "function") {
  // Node 20.6+: register tsx's loader in this process.
  const { register } = await import("tsx/esm/api");
  register();
  await import("./meshctl.ts");
} else {
  // Older Node 20: run tsx's own CLI, which installs its loader the old way.
  const { spawnSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const cli = module.createRequire(import.meta.url).resolve("tsx/cli");
  const script = fileURLToPath(new URL("./meshctl.ts", import.meta.url));
  const result = spawnSync(process.execPath, [cli, script, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exitCode = result.status ?? 1;
}
