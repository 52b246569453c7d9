// The console end to end in headless Chromium (playwright-core driving Debian's /usr/bin/chromium):
// `restitch serve examples/hello-app --console` through the real CLI, the printed URL opened in the
// browser, the endpoint table, the try-it form calling /hello with an XSS attempt in the query, the
// run with its log line, and a screenshot kept under test/artifacts/ (gitignored) and checked.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "packages/cli/bin/restitch.js");
const CHROMIUM = process.env.RESTITCH_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "test/artifacts");
const SCREENSHOT = path.join(ARTIFACTS, "console.png");
const SKIP = process.env.RESTITCH_SKIP_BROWSER === "1";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Waits for the page (the console polls runs every 1.5 s). */
const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 10_000 });
const XSS = `<img src=x onerror="alert('xss')">`;

if (SKIP) console.warn("\n!!! RESTITCH_SKIP_BROWSER=1: the console's browser test is SKIPPED (it must pass in CI) !!!\n");

/** `restitch serve examples/hello-app --console` on a free port; resolves with the printed console URL. */
function serveExample(): Promise<{ child: ChildProcess; consoleUrl: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    // An empty RESTITCH_CONSOLE_TOKEN counts as unset: the server generates the token and prints it.
    const child = spawn(process.execPath, [BIN, "serve", "examples/hello-app", "--console", "--port", "0"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RESTITCH_CONSOLE_TOKEN: "" },
    });
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const url = /^restitch: console at (http:\/\/\S+\?token=\S+)$/m.exec(out)?.[1];
      if (url) resolve({ child, consoleUrl: url, output: () => out });
    });
    child.stderr!.on("data", (d) => (out += d));
    child.on("close", (code) => reject(new Error(`restitch serve exited (${code}) before printing the console URL:\n${out}`)));
  });
}

/** Width, height and colour statistics of a PNG, decoded by the browser itself (a blank page, no CSP). */
async function pngStats(page: Page, png: Buffer): Promise<{ width: number; height: number; colours: number; nonWhite: number }> {
  await page.goto("about:blank");
  return page.evaluate(async (dataUrl) => {
    const img = new Image();
    img.src = dataUrl;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d")!;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set<number>();
    let nonWhite = 0;
    for (let i = 0; i < data.length; i += 4) {
      colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
      if (data[i]! < 240 || data[i + 1]! < 240 || data[i + 2]! < 240) nonWhite++;
    }
    return { width: canvas.width, height: canvas.height, colours: colours.size, nonWhite: nonWhite / (data.length / 4) };
  }, `data:image/png;base64,${png.toString("base64")}`);
}

describe.skipIf(SKIP)("the console in headless Chromium (Playwright)", () => {
  let server: Awaited<ReturnType<typeof serveExample>> | undefined;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does this) ` +
          `or point RESTITCH_CHROMIUM at a Chromium binary. RESTITCH_SKIP_BROWSER=1 skips this test outside CI.`,
      );
    }
    server = await serveExample();
    userDataDir = await mkdtemp(path.join(tmpdir(), "restitch-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    if (server && server.child.exitCode === null) {
      const closed = new Promise((r) => server!.child.once("close", r));
      server.child.kill("SIGTERM");
      await closed;
    }
  });

  it("opens with the printed token, lists the endpoints, tries /hello from the form and shows its run and log line", async () => {
    const page = await context!.newPage();
    const problems: string[] = [];
    page.on("dialog", (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    // A CSP violation (what an escaping bug would cause) or any script error shows up here.
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });

    // The token URL sets the cookie and redirects to the bare console URL.
    const consoleUrl = new URL(server!.consoleUrl);
    await page.goto(consoleUrl.href);
    expect(page.url()).toBe(`${consoleUrl.origin}/_restitch/`);
    const cookies = await context!.cookies(`${consoleUrl.origin}/_restitch/`);
    expect(cookies.find((c) => c.name === "restitch_console")).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/_restitch/" });
    // Scoped to the console: the app's endpoints (tenant code sees request headers) never get it.
    expect(await context!.cookies(`${consoleUrl.origin}/app/hello-abcde/endpoint/hello`)).toEqual([]);

    // The endpoint table: hello-app's seven endpoints.
    const rows = page.locator("table.endpoints tbody tr");
    await poll(() => rows.count()).toBe(7);
    expect(await page.locator("#apps").innerText()).toContain("/app/hello-abcde/endpoint/hello");
    expect(await page.locator("#apps").innerText()).toContain("VERIFY_PAYLOAD (githubWebhookSecret)");

    // Try /hello with an XSS attempt in the query: it must come back as text everywhere.
    await page.locator('table.endpoints tr[data-route="/hello"] button').click();
    expect(await page.locator("#try-path").inputValue()).toBe("/app/hello-abcde/endpoint/hello");
    await page.locator("#try-query").fill(`name=${XSS}`);
    await page.locator("#try-send").click();
    await poll(() => page.locator("#try-status").innerText()).toBe("200 OK");
    expect(JSON.parse(await page.locator("#try-response-body").innerText())).toMatchObject({ greeting: `Hello, ${XSS}!`, environment: "development" });
    expect(await page.locator("#try-response-headers").innerText()).toMatch(/content-type: application\/json/);

    // The run it produced, with its log line, under the response…
    await poll(() => page.locator("#try-run").innerText()).toContain(`greeting ${XSS}`);
    expect(await page.locator("#try-run").innerText()).toMatch(/Run #1\b/);
    // …and in the recent runs table, whose row opens the run's detail.
    const runRow = page.locator('#runs-table tr[data-run-id="1"]');
    await poll(() => runRow.innerText()).toMatch(/GET\s+\/hello\s+200/);
    await runRow.click();
    await poll(() => page.locator("#run-detail pre.logs").innerText()).toBe(`greeting ${XSS}`);
    expect(page.url()).toMatch(/#run-1$/);

    // Escaped, not parsed: no <img> anywhere, no dialog, no CSP violation or script error.
    expect(await page.locator("img").count()).toBe(0);
    expect(problems).toEqual([]);

    // The screenshot, with the page in the state asserted above.
    await mkdir(ARTIFACTS, { recursive: true });
    await page.locator("#try").scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = await readFile(SCREENSHOT);
    expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    expect(png.length).toBeGreaterThan(30_000);
    const stats = await pngStats(page, png);
    expect(stats.width).toBe(1280);
    expect(stats.height).toBeGreaterThanOrEqual(900); // full page: tables, form, response, run detail
    expect(stats.colours).toBeGreaterThan(100); // text, tables, coloured status: not a blank or error page
    expect(stats.nonWhite).toBeGreaterThan(0.05);
    await page.close();
  }, 90_000);
});
