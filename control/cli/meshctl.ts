import { runMeshctl } from "./main.js";

/** The meshctl process: runs the command, then exits with its code once output is flushed. */
process.exitCode = await runMeshctl(process.argv.slice(2));
