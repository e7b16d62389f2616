import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationId } from "../../control/dashboard/graph.js";
import { startBookinfo, type Bookinfo } from "../control/support/bookinfo.js";
import { READER_TOKEN, startTestMesh, type TestMesh } from "../control/support/control-fixture.js";
import { freePort } from "../support/upstream.js";

/**
 * The dashboard in headless Chromium (Debian's, which .ci/run installs; playwright-core drives
 * it and never downloads a browser), against the control worker and a real gateway serving
 * Bookinfo with known traffic: the graph is drawn (every node and edge of the snapshot, the
 * weights), the gateway's counts are shown and follow new traffic, the token is taken from the
 * fragment and asked for when missing or wrong, and a screenshot shows a drawing, not a blank page.
 *
 * Set MESH_SCREENSHOT_DIR to keep the screenshot. CHROMIUM_PATH overrides /usr/bin/chromium.
 */

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/browser/dashboard.test.ts: skipped, no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

// The flags known to work on this kind of machine: no sandbox as root, and no background
// networking, whose connections this closed network refuses (docs: the machine's notes).
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let bookinfo: Bookinfo;
let mesh: TestMesh;
let browser: Browser;
let version: string;

async function sendTraffic(target: string, times: number, headers: Record<string, string> = {}, host = "bookinfo.local"): Promise<void> {
  for (let index = 0; index < times; index++) await (await mesh.gateway(target, { host, headers })).arrayBuffer();
}

describe.skipIf(!HAVE_CHROMIUM)("the dashboard in Chromium", () => {
  beforeAll(async () => {
    const [started, launched] = await Promise.all([
      (async () => {
        bookinfo = await startBookinfo();
        const port = await freePort();
        mesh = await startTestMesh({ ingressPort: port, controlBindings: { MESH_GATEWAY_URLS: `http://127.0.0.1:${port}` } });
      })(),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    ]);
    void started;
    browser = launched;
    const applied = await mesh.api("POST", "/v1/apply", { body: bookinfo.config, contentType: "application/yaml" });
    expect(applied.status, applied.text).toBe(200);
    version = applied.body.version;
    for (let tries = 0; ; tries++) {
      const served = ((await (await mesh.gateway("/__mesh/healthz")).json()) as { configVersion: string | null }).configVersion;
      if (served === version) break;
      if (tries > 100) throw new Error("the gateway did not load the config");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Known traffic: jason always gets reviews v3; the abort route fails every request; one host has no route.
    await sendTraffic("/reviews/1", 6, { "end-user": "jason" });
    await sendTraffic("/ratings/1", 4, { "x-fault": "abort" });
    await sendTraffic("/", 2, {}, "nowhere.local");
    // A request is counted once its response has been sent: wait until all twelve are.
    for (let tries = 0; (await mesh.api("GET", "/v1/dashboard")).body.traffic.total.requests < 12; tries++) {
      if (tries > 100) throw new Error("the gateway did not count the traffic");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  afterAll(async () => {
    await browser?.close();
    await mesh?.dispose();
    await bookinfo?.close();
  });

  async function openDashboard(fragment: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    (page as Page & { problems?: string[] }).problems = problems;
    await page.goto(new URL(`/__mesh/dashboard?interval=1${fragment}`, mesh.controlUrl).href);
    return page;
  }

  const node = (page: Page, id: string) => page.locator(`g[data-node-id="${id}"]`);
  const traffic = (page: Page, id: string) => page.locator(`text[data-traffic-for="${id}"]`);

  it("draws every gateway, host, route and destination of the snapshot, with the gateway's counts", async () => {
    const page = await openDashboard(`#token=${READER_TOKEN}`);
    await page.waitForSelector("body[data-state=ready]", { timeout: 10_000 });
    // The token left the address bar for the tab's sessionStorage.
    expect(await page.evaluate(`[location.hash, sessionStorage.getItem("mesh-dashboard-token")]`)).toEqual(["", READER_TOKEN]);
    expect(await page.getAttribute("body", "data-version")).toBe(version);

    expect(await page.locator("g[data-kind=gateway]").count()).toBe(1);
    expect(await page.locator("g[data-kind=host]").count()).toBe(1);
    expect(await page.locator("g[data-kind=route] text.label").allTextContents()).toEqual(["productpage", "reviews-jason", "reviews", "ratings-abort", "ratings-delay", "ratings", "details", "flaky"]);
    expect(await page.locator("g[data-kind=destination]").count()).toBe(7);
    expect(await node(page, "gateway:bookinfo/bookinfo-gateway").locator("text.label").textContent()).toBe("bookinfo/bookinfo-gateway");
    expect(await page.locator("path[data-kind=host]").count()).toBe(1);
    expect(await page.locator("path[data-kind=route]").count()).toBe(8);
    expect(await page.locator("path[data-kind=weight]").count()).toBe(9);
    const reviewsV1 = destinationId("reviews.bookinfo.local", "v1");
    expect(await page.locator(`path[data-from="route:2"][data-to="${reviewsV1}"]`).getAttribute("stroke-width")).toBe(String(1.5 + 6 * 0.8));
    expect(await page.locator(`text[data-edge-label="route:2 ${reviewsV1}"]`).textContent()).toBe("80%");
    expect(await page.locator(`text[data-edge-label="route:2 ${destinationId("reviews.bookinfo.local", "v2")}"]`).textContent()).toBe("20%");

    // Counts from the gateway's metrics: jason's six requests to v3, four aborted ratings.
    const v3 = destinationId("reviews.bookinfo.local", "v3");
    const ratings = destinationId("ratings.bookinfo.local", undefined);
    expect(await traffic(page, v3).getAttribute("data-requests")).toBe("6");
    expect(await traffic(page, v3).textContent()).toMatch(/^6 req · .*0\.0% 5xx$/);
    expect(await traffic(page, ratings).textContent()).toMatch(/^4 req · .*100\.0% 5xx$/);
    expect(await node(page, ratings).getAttribute("class")).toBe("node node-destination errors");
    expect(await node(page, destinationId("details.bookinfo.local", undefined)).locator("text.traffic").textContent()).toBe("no requests yet");
    expect(await page.locator("#summary").textContent()).toContain(`version ${version}`);
    expect(await page.locator("#summary").textContent()).toContain("12 requests since the gateways started");
    expect(await page.locator("#sources li").textContent()).toContain(`serves ${version} (in sync)`);

    // New traffic shows on a later refresh (every second here), with a rate.
    await sendTraffic("/reviews/1", 5, { "end-user": "jason" });
    await page.waitForSelector(`text[data-traffic-for="${v3}"][data-requests="11"]`, { timeout: 10_000 });
    expect(await traffic(page, v3).textContent()).toMatch(/^11 req · \d+\.\d+\/s · 0\.0% 5xx$/);

    const shot = await page.screenshot({ fullPage: true });
    if (process.env.MESH_SCREENSHOT_DIR) {
      await mkdir(process.env.MESH_SCREENSHOT_DIR, { recursive: true });
      await writeFile(path.join(process.env.MESH_SCREENSHOT_DIR, "dashboard.png"), shot);
    }
    // A PNG of the page's size, and a drawing: many colours, no single one covering the page.
    expect(shot.subarray(1, 4).toString()).toBe("PNG");
    expect(shot.readUInt32BE(16)).toBe(1280);
    expect(shot.readUInt32BE(20)).toBeGreaterThan(600);
    const colours = await analyse(shot);
    expect(colours.distinct).toBeGreaterThan(50);
    expect(colours.dominantShare).toBeLessThan(0.9);
    // Purple destination boxes, green host box, amber route boxes: the graph's own fills are on screen.
    for (const fill of [[0xf3, 0xec, 0xfb], [0xe9, 0xf6, 0xec], [0xff, 0xf5, 0xe0], [0xe7, 0xef, 0xff]]) expect(colours.has(fill), `fill ${fill}`).toBe(true);
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
    await page.close();
  });

  it("asks for a token when it has none or a wrong one, and draws once given a good one", async () => {
    const page = await openDashboard("");
    await page.waitForSelector("#login:not([hidden])");
    expect(await page.locator("#login-message").textContent()).toContain("reader token");
    await page.fill("#token", "not-a-token");
    await page.click("#login button");
    // (A locator, not waitForFunction: the page's CSP rightly refuses to eval a string.)
    await page.locator("#login-message", { hasText: "refused" }).waitFor();
    expect(await page.locator("g[data-node-id]").count()).toBe(0);
    await page.fill("#token", READER_TOKEN);
    await page.click("#login button");
    await page.waitForSelector("body[data-state=ready]");
    expect(await page.locator("#login").isHidden()).toBe(true);
    expect(await page.locator("g[data-node-id]").count()).toBe(17);
    await page.close();
  });
});

/**
 * Colours of a PNG, counted in a blank page's canvas (the dashboard's CSP rightly forbids doing it
 * there). The browser-side code is a string: the tests' TypeScript has no DOM types.
 */
async function analyse(png: Buffer): Promise<{ distinct: number; dominantShare: number; has(rgb: number[]): boolean }> {
  const page = await browser.newPage();
  try {
    const result = (await page.evaluate(`(async (dataUrl) => {
      const image = new Image();
      image.src = dataUrl;
      await image.decode();
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      const pixels = context.getImageData(0, 0, image.width, image.height).data;
      const counts = new Map();
      for (let index = 0; index < pixels.length; index += 4) {
        const key = (pixels[index] << 16) | (pixels[index + 1] << 8) | pixels[index + 2];
        counts.set(key, (counts.get(key) || 0) + 1);
      }
      return { counts: [...counts.entries()], total: pixels.length / 4 };
    })(${JSON.stringify(`data:image/png;base64,${png.toString("base64")}`)})`)) as { counts: [number, number][]; total: number };
    const counts = new Map(result.counts);
    const dominant = Math.max(...counts.values());
    return {
      distinct: counts.size,
      dominantShare: dominant / result.total,
      // At least a few hundred pixels of the colour: a filled box, not an antialiasing accident.
      has: (rgb) => (counts.get((rgb[0]! << 16) | (rgb[1]! << 8) | rgb[2]!) ?? 0) > 500,
    };
  } finally {
    await page.close();
  }
}
