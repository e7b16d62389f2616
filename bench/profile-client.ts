import { writeFile } from "node:fs/promises";
import readline from "node:readline";

/**
 * A minimal Chrome DevTools Protocol client for workerd's inspector: CPU-profiles one worker.
 * `node [--experimental-websocket] --import tsx bench/profile-client.ts <ws url> <out.cpuprofile>`:
 * starts the V8 sampling profiler, prints `{"started":true}`, and on a `stop` line on stdin stops
 * it, writes the profile (loadable in Chrome DevTools) and prints `{"written":"<file>"}`.
 * Its own process because Node 20 has WebSocket only behind a flag.
 */
const [url, out] = process.argv.slice(2);
if (!url || !out) throw new TypeError("usage: profile-client.ts <ws url> <out.cpuprofile>");

const socket = new WebSocket(url);
let nextId = 1;
const pending = new Map<number, (result: unknown) => void>();
socket.addEventListener("message", (event) => {
  const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
  if (message.id === undefined) return;
  const resolve = pending.get(message.id);
  pending.delete(message.id);
  if (message.error) throw new Error(`inspector: ${message.error.message}`);
  resolve?.(message.result);
});
const send = (method: string, params: Record<string, unknown> = {}) =>
  new Promise<unknown>((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });

await new Promise((resolve, reject) => {
  socket.addEventListener("open", resolve, { once: true });
  socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
});
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 200 });
await send("Profiler.start");
process.stdout.write(`${JSON.stringify({ started: true })}\n`);

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line.trim() !== "stop") continue;
  const { profile } = (await send("Profiler.stop")) as { profile: unknown };
  await writeFile(out, JSON.stringify(profile));
  process.stdout.write(`${JSON.stringify({ written: out })}\n`);
  socket.close();
  break;
}
process.exit(0);
