// Drives the maskctl page in a real headless Chromium (Debian's /usr/bin/chromium) the way a user
// would: upload a photo, read the faces table, open the live view, watch the counters move.
// Run by tests/test_serve_browser.cpp against a real `maskctl serve`; prints one JSON line of what it
// saw and exits non-zero naming the step that failed. Screenshots go to --out.
//
// usage: node serve_page.mjs --url http://127.0.0.1:PORT/ --photo FILE --source NAME --out DIR
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

function args() {
  const a = {};
  for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
  for (const k of ["url", "photo", "source", "out"]) if (!a[k]) throw new Error(`missing --${k}`);
  return a;
}

let step = "start";
const seen = {};
async function main() {
  const a = args();
  fs.mkdirSync(a.out, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // Kept for the failure message: what the page logged and which requests failed.
    const notes = [];
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") notes.push(`console ${m.type()}: ${m.text()}`); });
    page.on("requestfailed", (r) => notes.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
    page.on("response", (r) => { if (r.status() >= 400) notes.push(`HTTP ${r.status()}: ${r.url()}`); });
    seen.notes = notes;

    step = "load the page";
    await page.goto(a.url, { waitUntil: "load", timeout: 30000 });
    await page.waitForFunction(() => document.querySelector("#health").classList.contains("ok"), { timeout: 20000 });

    step = "upload the photo";
    const input = await page.$("#photo-input");
    // Chromium refuses to read a picked file whose path still has ".." in it (net::ERR_ACCESS_DENIED).
    await input.uploadFile(fs.realpathSync(a.photo));
    await page.waitForFunction(
      () => !document.querySelector("#photo-result").hidden &&
            document.querySelector("#photo-image").naturalWidth > 0 &&
            document.querySelectorAll("#faces-table tbody tr").length > 0,
      { timeout: 20000 });
    seen.faces = await page.$$eval("#faces-table tbody tr", (rows) =>
      rows.map((r) => Array.from(r.cells, (c) => c.textContent)));
    seen.photo_status = await page.$eval("#photo-status", (e) => e.textContent);
    await page.screenshot({ path: path.join(a.out, "photo.png"), fullPage: true });

    step = "open the live view";
    await page.click('nav button[data-tab="live"]');
    const card = `.stream-card[data-source="${a.source}"]`;
    await page.waitForFunction((sel) => {
      const img = document.querySelector(sel + " img.stream");
      return img && img.naturalWidth > 0;
    }, { timeout: 30000 }, card);
    const frames = () => page.$eval(card + ' [data-counter="frames"]', (e) => Number(e.textContent));
    seen.frames_first = await frames();

    step = "watch the counters move";
    await page.waitForFunction((sel, first) =>
      Number(document.querySelector(sel + ' [data-counter="frames"]').textContent) > first,
      { timeout: 20000 }, card, seen.frames_first);
    seen.frames_later = await frames();
    seen.stream_size = await page.$eval(card + " img.stream", (i) => [i.naturalWidth, i.naturalHeight]);
    seen.state = await page.$eval(card + " .state", (e) => e.textContent);
    await page.screenshot({ path: path.join(a.out, "live.png"), fullPage: true });

    step = "read the compliance tab";
    await page.click('nav button[data-tab="compliance"]');
    const comp = `.compliance-card[data-source="${a.source}"]`;
    await page.waitForFunction((sel) => document.querySelectorAll(sel + " .windows tbody tr").length >= 3,
      { timeout: 20000 }, comp);
    seen.windows = await page.$$eval(comp + " .windows tbody tr", (rows) =>
      rows.map((r) => Array.from(r.cells, (c) => c.textContent)));
    await page.screenshot({ path: path.join(a.out, "compliance.png"), fullPage: true });

    // Every file and API call the page made must have worked (a 404 asset is a broken page).
    errors.push(...notes.filter((n) => n.startsWith("HTTP ")));
    if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
    seen.ok = true;
  } finally {
    await browser.close();
  }
}

main().then(
  () => { console.log(JSON.stringify(seen)); },
  (err) => { console.log(JSON.stringify(seen)); console.error(`browser test failed at "${step}": ${err.message}`); process.exit(1); });
