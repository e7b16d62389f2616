import readline from "node:readline";
import autocannon from "autocannon";
import { quantileSorted } from "./stats.js";

/**
 * The load generator, in its own process: autocannon driven by JSON commands on stdin, one result
 * per line on stdout. It stays up for the whole bench (no start-up cost per round).
 *
 * autocannon's own latency histogram has 1 ms resolution, too coarse for a proxy adding tens of
 * microseconds, so every response's latency (autocannon measures it with hrtime, fractional ms)
 * is recorded here and the percentiles are computed exactly.
 */

export interface LoadCommand {
  url: string;
  host: string;
  headers: Record<string, string>;
  connections: number;
  durationSec: number;
}

export interface LoadResult {
  requests: number;
  ok: number;
  errors: number;
  non2xx: number;
  timeouts: number;
  elapsedSec: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

class Latencies {
  private values = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.length).sort();
  }
}

function run(command: LoadCommand): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latencies = new Latencies();
    let responses = 0;
    let ok = 0;
    const started = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: command.url,
        connections: command.connections,
        duration: command.durationSec,
        pipelining: 1,
        timeout: 10,
        headers: { ...command.headers, host: command.host },
      },
      (error, result) => {
        if (error) return reject(error);
        const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9;
        const sorted = latencies.sorted();
        let sum = 0;
        for (const value of sorted) sum += value;
        resolve({
          requests: responses,
          ok,
          errors: result.errors,
          non2xx: result.non2xx,
          timeouts: result.timeouts,
          elapsedSec,
          rps: ok / elapsedSec,
          p50_ms: quantileSorted(sorted, 0.5),
          p90_ms: quantileSorted(sorted, 0.9),
          p99_ms: quantileSorted(sorted, 0.99),
          max_ms: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
          mean_ms: sorted.length ? sum / sorted.length : Number.NaN,
        });
      },
    );
    instance.on("response", (_client: unknown, status: number, _bytes: number, responseTime: number) => {
      responses++;
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(responseTime);
      }
    });
  });
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    try {
      const result = await run(JSON.parse(line) as LoadCommand);
      process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`);
    }
  });
});
lines.on("close", () => void queue.then(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
