import { defineConfig } from "vitest/config";

/**
 * Unit tests run in plain Node; integration tests start the real worker in workerd (Miniflare)
 * and real upstream servers on 127.0.0.1; end-to-end tests run `npm start` as a child process.
 * Starting workerd takes a moment, hence the generous timeouts; two workers fit a 2-core machine.
 */
export default defineConfig({
  test: {
    environment: "node",
    // Tests mirror their subject's path under test/, or sit beside it (STYLE.md allows both).
    include: ["test/**/*.test.ts", "{policies,gateway,egress,control,scripts}/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    // The gateway's access log (workerd stdout) is shown for failing tests only.
    silent: "passed-only",
  },
});
