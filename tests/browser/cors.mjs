// A page on another origin calls Tailor from Debian's Chromium: content with
// X-Anonymous-Id (a preflighted request) and an event batch, then the same from an
// origin Tailor does not allow. Prints one JSON line with what each page saw.
//
//   node tests/browser/cors.mjs <api-base> <allowed-page-url> <other-page-url>
import { chromium } from "playwright-core";

const [api, allowedPage, otherPage] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage({ locale: "fr-CA" });
  const from = async (url, eventId) => {
    await page.goto(url);
    return page.evaluate(async ([api, eventId]) => {
      try {
        const content = await fetch(`${api}/v1/content/home.hero?channel=web&device=desktop`, {
          headers: { "X-Anonymous-Id": "browser-visitor" },
        });
        const body = await content.json();
        const events = await fetch(`${api}/v1/events`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Anonymous-Id": "browser-visitor" },
          body: JSON.stringify({ events: [{ event_id: eventId, type: "impression", tracking_token: body.tracking_token }] }),
        });
        return {
          ok: true,
          origin: location.origin,
          status: content.status,
          locale: body.locale,
          etag: content.headers.get("ETag"),
          events: events.status,
        };
      } catch (e) {
        return { ok: false, origin: location.origin, error: String(e) };
      }
    }, [api, eventId]);
  };
  const allowed = await from(allowedPage, "browser-cors-1");
  const refused = await from(otherPage, "browser-cors-2");
  console.log(JSON.stringify({ allowed, refused }));
} finally {
  await browser.close();
}
