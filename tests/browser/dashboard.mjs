// Drives /dashboard in Debian's Chromium: the chart and the evidence-quality table
// render, the stored policy is backtested from the page, and an approval click retires
// the channel. Prints one JSON line with what it saw.
//
//   node tests/browser/dashboard.mjs <base-url> <approver-token> <decision-id>
import { chromium } from "playwright-core";

const [base, token, decisionId] = process.argv.slice(2);
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
    await page.waitForSelector("svg#chart polyline", { timeout: 20000 });
  } catch (e) {
    const shown = await page.textContent("#error");
    throw new Error(`no chart: page says "${shown}"; page errors: ${errors.join(" | ")}`);
  }
  await page.waitForSelector('[data-quality-of="channel/sms"]', { timeout: 20000 });
  const quality = await page.$$eval("[data-quality-of]", (rows) =>
    rows.map((r) => ({ of: r.dataset.qualityOf, sources: Number(r.querySelector("[data-sources]").dataset.sources) })));
  const srm = (await page.textContent("#srm")).trim();
  const series = await page.$$eval("svg#chart polyline", (lines) =>
    lines.map((l) => ({ channel: l.dataset.channel, points: l.getAttribute("points").split(" ").length })));
  // The backtest panel comes prefilled with the stored policy: run it.
  await page.waitForFunction(() => document.getElementById("backtest-policy").value.includes('"id"'), null, { timeout: 20000 });
  await page.getByRole("button", { name: "Backtest" }).click();
  await page.waitForSelector("[data-acting-days]", { timeout: 20000 });
  const backtest = {
    acting_days: Number(await page.getAttribute("[data-acting-days]", "data-acting-days")),
    rows: await page.$$eval("[data-day]", (rows) => rows.map((r) => r.textContent)),
  };
  const proposal = page.locator(`[data-decision-id="${decisionId}"]`);
  await proposal.locator("textarea").fill("Approved from the dashboard: sms earns a tenth of the others");
  await proposal.getByRole("button", { name: "Approve" }).click();
  await page.waitForSelector('[data-retired="channel/sms"]', { timeout: 20000 });
  const smsState = (await page.textContent('[data-state-of="channel/sms"] td:last-child')).trim();
  const evidence = (await page.textContent('[data-retired="channel/sms"] .muted')).trim();
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ series, smsState, evidence, quality, srm, backtest, errors }));
} finally {
  await browser.close();
}
