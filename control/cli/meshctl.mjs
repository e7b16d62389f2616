#!/usr/bin/env node
// The `meshctl` bin (package.json "bin"): runs the TypeScript source through tsx, so that
// `npx meshctl` works from a checkout with no build step. tsx is a dependency for that reason.
import { register } from "tsx/esm/api";

register();
await import("./meshctl.ts");
