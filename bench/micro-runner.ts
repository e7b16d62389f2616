import path from "node:path";
import type { MicroResults } from "./micro.js";
import type { Mode } from "./options.js";
import { BENCH_DIR, startProcess } from "./processes.js";

/** Runs bench/micro.ts in a fresh Node process (its own heap, `--expose-gc` for the heap figures). */
export async function runMicro(mode: Mode, log: (line: string) => void): Promise<MicroResults> {
  log("engine micro-benchmarks (fresh Node process)");
  const service = startProcess("micro-benchmarks", process.execPath, ["--expose-gc", "--import", "tsx", path.join(BENCH_DIR, "micro.ts"), mode]);
  let stdout = "";
  service.child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  service.child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(chunk));
  const code = await new Promise<number | null>((resolve) => service.child.once("exit", resolve));
  await service.stop();
  const line = stdout.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`micro-benchmarks failed (exit ${code}):\n${service.output()}`);
  return JSON.parse(line) as MicroResults;
}
