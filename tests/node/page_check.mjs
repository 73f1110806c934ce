// Opens an operations page in headless Chromium (Debian's, driven by playwright-core), keeps a
// full-page screenshot, and prints what the rendered page shows as JSON for the Rust tests to
// assert on: the computed colours, not the markup, decide what is red.
// Usage: node page_check.mjs PAGE.html SHOT.png
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page_path, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests = [];
  page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
  const started = Date.now();
  await page.goto(pathToFileURL(page_path).href, { waitUntil: "load" });
  const load_ms = Date.now() - started;
  await page.screenshot({ path: shot, fullPage: true });
  const facts = await page.evaluate(() => {
    const all = (sel) => [...document.querySelectorAll(sel)];
    const text = (e) => (e ? e.textContent.trim() : null);
    const red = (e) => {
      const [r, g, b] = getComputedStyle(e).color.match(/\d+/g).map(Number);
      return r > 150 && g < 80 && b < 80;
    };
    return {
      title: document.title,
      sections: all("section").map((s) => s.id || s.dataset.test || ""),
      active: text(document.querySelector("[data-test=active-side]")),
      sides: all("[data-test=side]").map((s) => ({
        name: s.dataset.side,
        active: s.classList.contains("is-active"),
        slots: s.querySelectorAll("svg[data-test=strip] rect").length,
        failed_slots: [...s.querySelectorAll("svg[data-test=strip] rect")]
          .filter((r) => r.getAttribute("fill") === "#cf222e").length,
        mixed_slots: [...s.querySelectorAll("svg[data-test=strip] rect")]
          .filter((r) => r.getAttribute("fill") === "#d4a72c").length,
        text: s.innerText,
      })),
      switches: all("[data-test=switches] tr").slice(1).map((r) => r.innerText),
      stale: all("[data-test=stale]").map((e) => ({
        row: e.closest("tr").innerText,
        red: red(e),
      })),
      fresh_backups: all("[data-test=backup-set] td.ok").map((e) => e.closest("tr").innerText),
      rolled_back: all("[data-test=rolled-back]").map((e) => ({ text: text(e), red: red(e) })),
      rollout_in_progress: all("[data-test=rollout-in-progress]").length,
      deploy_rows: all("[data-test=deploy-target] tr").slice(1).map((r) => r.innerText),
      budget_rows: all("[data-test=budget-steps] tr").slice(1).map((r) => r.innerText),
      readiness_rows: all("[data-test=readiness] tr").slice(1).map((r) => ({
        text: r.innerText,
        red: [...r.querySelectorAll("td")].some((c) => red(c)),
      })),
      hold_rows: all("[data-test=holds] tr").slice(1).map((r) => r.innerText),
      spend: all("[data-test=spend]").map(text),
      empty: document.querySelector("[data-test=empty]") !== null,
      scripts: document.scripts.length,
      body: document.body.innerText,
    };
  });
  console.log(JSON.stringify({ ...facts, requests, load_ms }));
} finally {
  await browser.close();
}
