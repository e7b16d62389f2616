import readline from "node:readline";
import type { LoadCommand, LoadResult } from "./load-generator.js";
import { readyLine, startNodeScript, type Service } from "./processes.js";

export type { LoadCommand, LoadResult };

/** The driver's handle on the load-generator process (bench/load-generator.ts). */
export class LoadGenerator {
  private constructor(
    private readonly service: Service,
    private readonly lines: AsyncIterator<string>,
  ) {}

  static async start(cpus?: string): Promise<LoadGenerator> {
    const service = startNodeScript("load generator", "load-generator.ts", [], { cpus });
    await readyLine(service);
    const lines = readline.createInterface({ input: service.child.stdout! })[Symbol.asyncIterator]();
    return new LoadGenerator(service, lines);
  }

  get pid(): number {
    return this.service.child.pid!;
  }

  async run(command: LoadCommand): Promise<LoadResult> {
    this.service.child.stdin!.write(`${JSON.stringify(command)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error(`the load generator exited:\n${this.service.output()}`);
    const reply = JSON.parse(next.value) as { ok: true; result: LoadResult } | { ok: false; error: string };
    if (!reply.ok) throw new Error(`load generator: ${reply.error}`);
    return reply.result;
  }

  stop(): Promise<void> {
    return this.service.stop();
  }
}
