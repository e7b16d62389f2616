import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Child processes of the bench: every candidate, the upstream and the load generator run in their
 * own process, so none shares an event loop (or a core, when the scheduler can help it) with the
 * bench driver. Every child started here is stopped by `stopAll`, also on Ctrl-C or a crash.
 */

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, "..");

export interface Service {
  name: string;
  child: ChildProcess;
  /** Stderr (and stdout when not parsed) so far, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<Service>();

export interface StartOptions extends SpawnOptions {
  /** Where stdout goes: `pipe` to parse a ready line, or a file descriptor / `ignore`. */
  stdoutTo?: "pipe" | "ignore" | number;
  /** Pin the process (all its threads and children) to these CPUs, e.g. `"1"` (taskset's list). */
  cpus?: string | undefined;
}

export function startProcess(name: string, command: string, args: readonly string[], options: StartOptions = {}): Service {
  const { stdoutTo = "pipe", cpus, ...spawnOptions } = options;
  // taskset execs the command: the pid stays the command's own.
  const [file, argv] = cpus !== undefined ? ["taskset", ["-c", cpus, command, ...args]] : [command, [...args]];
  const child = spawn(file, argv, { cwd: REPO_ROOT, ...spawnOptions, stdio: ["pipe", stdoutTo, "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stderr?.on("data", keep);
  child.on("error", (error) => keep(Buffer.from(`\n${error.message}\n`)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const service: Service = {
    name,
    child,
    output: () => output,
    async stop() {
      running.delete(service);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(service);
  return service;
}

/** A Node child running a TypeScript file of the bench (through tsx's loader). */
export function startNodeScript(
  name: string,
  script: string,
  args: readonly string[] = [],
  options: { nodeArgs?: readonly string[]; cpus?: string | undefined } = {},
): Service {
  return startProcess(name, process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", path.resolve(BENCH_DIR, script), ...args], {
    cpus: options.cpus,
  });
}

export interface CpuPlan {
  /** CPUs of the load generator. */
  load: string;
  /** CPUs of the system under test: the candidate and the upstream. */
  sut: string;
}

/**
 * Where processes run: the load generator on the first CPU, the system under test (candidate and
 * upstream) on the last, so a candidate never competes with the load generator for a core and
 * every candidate gets the same single core (like workerd's one isolate thread, nginx's one worker,
 * Node's one event loop). Undefined (no pinning) with one CPU or without taskset.
 */
export function cpuPlan(): CpuPlan | undefined {
  const cpus = os.availableParallelism();
  if (cpus < 2 || spawnSync("taskset", ["-c", "0", "true"]).status !== 0) return undefined;
  return { load: "0", sut: String(cpus - 1) };
}

/** Waits for the first stdout line that is JSON, and returns it parsed. */
export function readyLine<T>(service: Service, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => fail(new Error(`${service.name} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n").slice(0, -1)) {
        if (!line.startsWith("{")) continue;
        cleanup();
        resolve(JSON.parse(line) as T);
        return;
      }
    };
    const onExit = (code: number | null) => fail(new Error(`${service.name} exited (${code}) before it was ready`));
    const cleanup = () => {
      clearTimeout(timer);
      service.child.stdout?.off("data", onData);
      service.child.off("exit", onExit);
    };
    function fail(error: Error) {
      cleanup();
      reject(new Error(`${error.message}\n${service.output()}`));
    }
    service.child.stdout?.on("data", onData);
    service.child.once("exit", onExit);
  });
}

/** Resolves once something accepts TCP connections on the port (or throws after `timeoutMs`). */
export async function waitForPort(port: number, service: Service, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) throw new Error(`${service.name} exited (${service.child.exitCode}):\n${service.output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: "127.0.0.1" }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${service.name} did not listen on ${port} within ${timeoutMs} ms:\n${service.output()}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((service) => service.stop()));
}

/** Last resort on exit: no child may outlive the bench. */
export function killAllNow(): void {
  for (const service of running) if (service.child.exitCode === null) service.child.kill("SIGKILL");
}

const CLOCK_TICKS = 100;

/**
 * CPU time (user + system, in ms) used so far by these processes and all their descendants'
 * threads, from /proc (Linux). Clock ticks are 10 ms, far below a round's CPU time.
 */
export function cpuTimeMs(pids: readonly number[]): number | undefined {
  let ticks = 0;
  try {
    for (const pid of withDescendants(pids)) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  } catch {
    return undefined;
  }
  return (ticks * 1000) / CLOCK_TICKS;
}

/** CPU time (ms) all CPUs spent busy so far (not idle or waiting for I/O), from /proc/stat. */
function machineBusyMs(): number | undefined {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: interrupts are left out (the bench's own
    // loopback traffic is processed there, charged to no process), steal counts (the VM's host
    // ran something else instead).
    const busy = fields[0]! + fields[1]! + fields[2]! + fields[7]!;
    return (busy * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** CPU time (ms) of the bench itself: the driver and every child it started. */
function benchCpuMs(): number | undefined {
  const alive = [...running].filter((service) => service.child.exitCode === null && service.child.signalCode === null);
  const children = cpuTimeMs(alive.map((service) => service.child.pid!));
  if (children === undefined) return undefined;
  const own = process.cpuUsage();
  return children + (own.user + own.system) / 1000;
}

/**
 * Measures how much CPU processes outside the bench used over a stretch of time (other work on
 * a shared machine): `stop()` returns it as a share of all CPUs, 0..1 (undefined off Linux).
 */
export function foreignCpu(): { stop(): number | undefined } {
  const startMachine = machineBusyMs();
  const startBench = benchCpuMs();
  const started = process.hrtime.bigint();
  return {
    stop() {
      const machine = machineBusyMs();
      const bench = benchCpuMs();
      if (startMachine === undefined || startBench === undefined || machine === undefined || bench === undefined) return undefined;
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      const foreign = machine - startMachine - (bench - startBench);
      return Math.max(0, foreign / (elapsedMs * os.availableParallelism()));
    },
  };
}

function withDescendants(pids: readonly number[]): number[] {
  const all: number[] = [];
  const queue = [...pids];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    all.push(pid);
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
      if (children) queue.push(...children.split(" ").map(Number));
    } catch {
      // No children file (older kernels): the process alone.
    }
  }
  return all;
}
