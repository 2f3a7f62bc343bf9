// Opens /dashboard in Debian's Chromium and reads the adaptive-allocation panel: per
// placement, each arm's row as shown. Prints one JSON line.
//
//   node tests/browser/allocations.mjs <base-url> <reader-token>
import { chromium } from "playwright-core";

const [base, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/dashboard#token=${token}`);
  try {
    await page.waitForSelector("[data-allocation] [data-arm]", { timeout: 20000 });
  } catch (e) {
    const shown = await page.textContent("#error");
    throw new Error(`no allocation panel: page says "${shown}"; page errors: ${errors.join(" | ")}`);
  }
  const placements = await page.$$eval("[data-allocation]", (tables) =>
    tables.map((t) => ({
      placement: t.dataset.allocation,
      arms: [...t.querySelectorAll("[data-arm]")].map((r) => ({
        variant: r.dataset.arm,
        served: Number(r.querySelector("[data-served]").dataset.served),
        text: r.textContent,
      })),
    })));
  console.log(JSON.stringify({ placements, errors }));
} finally {
  await browser.close();
}
