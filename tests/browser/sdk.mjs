// The web SDK in Debian's Chromium, from a page on another origin than the API:
// sdk-demo.html imports <api>/sdk/tailor.js, asks for three placements in one call,
// renders them in the browser's language (fr-CA) and logs engagement. Prints ONE JSON
// line with what the page saw and sent; exits 0 when every check below held, else 1.
//
//   node tests/browser/sdk.mjs <api-base-url> <page-origin>
//   e.g. node tests/browser/sdk.mjs http://127.0.0.1:41234 http://127.0.0.1:41999
//
// The page origin must answer HTTP itself (any page); /demo there is fulfilled from
// sdk-demo.html, with https://tailor.example.com replaced by <api-base-url>. Links to
// *.example.com answer 204, so clicking a link logs the click and the page stays.
// SDK_FILE=sdk/tailor.js serves the SDK from that file instead of <api>/sdk/tailor.js.
//
// What happens, in order (phases):
//   load        goto /demo; one GET /v1/content for home.hero, checkout.banner and
//               web.footer_promo (the footer is below the fold). The hero and the
//               banner are seen for 1 s: 2 impressions. The FIRST POST /v1/events
//               reaches Tailor (stored), but the browser is answered 503 with
//               Retry-After: 1 (a lost answer); the SDK resends the same ids, which
//               Tailor answers as duplicates.
//   scrolled    the footer is scrolled into view: its impression (the 3rd).
//   clicked     the footer's link is clicked once: one click, by navigator.sendBeacon.
//   consent_off "Refuse" is clicked (tailor.setConsent(false)); then the hero's link
//               and the banner's dismiss button are clicked, the page is reloaded (the
//               same session: the cohort comes from sessionStorage, consent from
//               localStorage), and 1.5 s pass (a negative check needs time): nothing
//               may be sent.
//
// Output (one line; arrays of event ids in the order sent):
// {"ok": true, "problems": [],                      problems: the checks that failed
//  "locale": "fr-CA",                               the locale of the rendered answers
//  "placements": ["home.hero", "checkout.banner", "web.footer_promo"],
//  "states": {"<placement>": "rendered"},           data-tailor-state after load
//  "locales": {"<placement>": "fr-CA"}, "variants": {"<placement>": "<variant id>"},
//  "texts": {"<placement>": "<rendered title>"},    date-dependent demo content
//  "impressions": 3, "clicks": 1,                   distinct event ids sent, by type
//  "impressions_by_placement": {"<placement>": 1},
//  "footer_before_scroll": false,                   footer impression sent before scrolling?
//  "event_ids": {"impression": [3 ids], "click": [1 id]},   exactly what the DB must hold
//  "requests": {"events": K,                        every POST /v1/events the page made
//               "failed_first": true,               the first was answered 503 to the page
//               "first_reached_server": true,       ... after Tailor had stored it (202)
//               "retried_same_ids": true,           its ids were sent again in a later POST
//               "beacons": 1,                       POSTs sent by navigator.sendBeacon
//               "server_statuses": [202, ...],      Tailor's status for each POST, in order
//               "context": 1,                       GET /v1/context (both page loads)
//               "content": 2,                       GET /v1/content (both page loads)
//               "placements_per_content_request": [3, 3],
//               "content_with_cohort": true},        every content URL had cohort=, no X-Anonymous-Id
//  "answers": {"accepted": A, "duplicates": D,      Tailor's readable 202 bodies summed (D >= 1)
//              "rejected": [], "unread": U},       U: events in 202s whose body the page cannot
//                                                  read (the beacon's); A + U = 4
//  "consent_off_sent": 0,                           POST /v1/events after consent off
//  "after_reload": {"consent": false, "anonymous_id_stable": true, "loaded": true},
//  "sdk_stats": {...},                              tailor.stats() before the reload
//  "errors": []}                                    page errors and SDK onError messages
//
// The database must then hold exactly event_ids.impression (kind impression) and
// event_ids.click (kind click), each once.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const [api, pageOrigin] = process.argv.slice(2).map((a) => (a || "").replace(/\/+$/, ""));
if (!api || !pageOrigin) {
  console.error("usage: node tests/browser/sdk.mjs <api-base-url> <page-origin>");
  process.exit(2);
}
const PLACEMENTS = ["home.hero", "checkout.banner", "web.footer_promo"];
const LOCALE = "fr-CA";
const WAIT = { timeout: 20000 };
const html = readFileSync(new URL("./sdk-demo.html", import.meta.url), "utf8")
  .replaceAll("https://tailor.example.com", api);

const out = { ok: false, problems: [], errors: [] };
const requests = { events: [], context: 0, content: [] };
let phase = "load";
let first = null; // the POST /v1/events whose answer is "lost"

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
try {
  const context = await browser.newContext({ locale: LOCALE, viewport: { width: 1280, height: 720 } });
  // Chromium's Local Network Access: a document fulfilled by page.route has no address,
  // so it counts as public, and a public page may reach a loopback API only with the
  // visitor's permission (a real site and a real API are both public: no prompt).
  // Older Chromium has no such check (nor permission): then there is nothing to grant.
  await context.grantPermissions(["local-network-access"], { origin: pageOrigin }).catch(() => {});
  const page = await context.newPage();
  page.on("pageerror", (e) => out.errors.push(`pageerror: ${e}`));
  page.on("requestfailed", (r) => { if (r.url().startsWith(`${api}/`)) out.errors.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`); });

  // Everything the page asks of the API, as the browser sent it.
  const records = new Map();
  page.on("request", (request) => {
    if (!request.url().startsWith(`${api}/`)) return;
    const url = new URL(request.url());
    if (url.pathname === "/v1/context" && request.method() === "GET") requests.context++;
    if (url.pathname === "/v1/content" && request.method() === "GET") {
      requests.content.push({ placements: (url.searchParams.get("placements") || "").split(","),
        cohort: url.searchParams.has("cohort"), anonymous_header: "x-anonymous-id" in request.headers() });
    }
    if (url.pathname === "/v1/events" && request.method() === "POST") {
      let events = [];
      try { events = JSON.parse(request.postData() || "{}").events || []; } catch { /* recorded as empty */ }
      const record = { phase, via: request.resourceType(), events, status: null, answer: null };
      records.set(request, record);
      requests.events.push(record);
    }
  });
  page.on("response", async (response) => {
    const record = records.get(response.request());
    if (!record || record === first?.record) return; // the lost answer is recorded by the route
    record.status = response.status();
    try { record.answer = await response.json(); } catch { /* a beacon's body is not readable */ }
  });

  await page.route(`${api}/v1/events`, async (route) => {
    if (route.request().method() !== "POST" || first) return route.continue();
    // The first batch reaches Tailor and is stored; the page is told 503.
    first = { record: records.get(route.request()) };
    const response = await route.fetch();
    first.status = response.status();
    try { first.answer = await response.json(); } catch { first.answer = null; }
    if (first.record) Object.assign(first.record, { status: first.status, answer: first.answer });
    await route.fulfill({
      status: 503,
      contentType: "application/problem+json",
      headers: { "Access-Control-Allow-Origin": pageOrigin, "Access-Control-Expose-Headers": "Retry-After", "Retry-After": "1" },
      body: JSON.stringify({ type: "unavailable", title: "Unavailable", status: 503, detail: "the test lost this answer" }),
    });
  });
  await page.route(/^https:\/\/[a-z0-9.-]*example\.com\//, (route) => route.fulfill({ status: 204 }));
  await page.route(`${pageOrigin}/demo`, (route) => route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html }));
  if (process.env.SDK_FILE) {
    await page.route(`${api}/sdk/tailor.js`, (route) => route.fulfill({ status: 200, contentType: "text/javascript",
      headers: { "Access-Control-Allow-Origin": "*" }, body: readFileSync(process.env.SDK_FILE, "utf8") }));
  }

  const load = async () => {
    await page.waitForFunction(() => window.tailorLoaded !== undefined, null, WAIT);
    const loaded = await page.evaluate(async () => {
      const result = await window.tailorLoaded;
      return { ok: result.ok, error: result.error, anonymousId: window.tailor.anonymousId, consent: window.tailor.hasConsent() };
    });
    if (!loaded.ok) throw new Error(`the page could not load content: ${loaded.error}`);
    return loaded;
  };
  const sdkErrors = async () => out.errors.push(...(await page.evaluate(() => window.tailorErrors.splice(0))));
  const impressionsSent = () => requests.events.flatMap((r) => r.events).filter((e) => e.type === "impression");

  // load: render, two impressions above the fold, the lost answer and the resend.
  await page.goto(`${pageOrigin}/demo`, { waitUntil: "domcontentloaded" });
  const firstLoad = await load();
  const shown = await page.evaluate((placements) => placements.map((p) => {
    const el = document.querySelector(`[data-tailor-placement="${p}"]`);
    const title = el.querySelector('[data-tailor-field="title"]');
    return { placement: p, state: el.dataset.tailorState, locale: el.lang, variant: el.dataset.tailorVariant, title: title && title.textContent };
  }), PLACEMENTS);
  const items = await page.evaluate(async () => (await window.tailorLoaded).items);
  const placementOf = new Map(items.filter((i) => i && i.tracking_token).map((i) => [i.tracking_token, i.placement]));
  out.locale = shown[0].locale;
  out.placements = PLACEMENTS;
  out.states = Object.fromEntries(shown.map((s) => [s.placement, s.state]));
  out.locales = Object.fromEntries(shown.map((s) => [s.placement, s.locale]));
  out.variants = Object.fromEntries(shown.map((s) => [s.placement, s.variant]));
  out.texts = Object.fromEntries(shown.map((s) => [s.placement, s.title]));

  await page.waitForFunction(() => window.tailor.stats().impressions >= 2, null, WAIT);
  await page.evaluate(() => window.tailor.flush());
  out.footer_before_scroll = impressionsSent().some((e) => placementOf.get(e.tracking_token) === "web.footer_promo");

  // scrolled: the footer's impression.
  phase = "scrolled";
  await page.locator('[data-tailor-placement="web.footer_promo"]').scrollIntoViewIfNeeded();
  await page.waitForFunction(() => window.tailor.stats().impressions >= 3, null, WAIT);
  await page.evaluate(() => window.tailor.flush());

  // clicked: one click on the footer's link, sent as a beacon; wait for Tailor's answer.
  phase = "clicked";
  const beaconAnswered = page.waitForResponse((r) => records.get(r.request())?.phase === "clicked", WAIT);
  await page.click('[data-tailor-placement="web.footer_promo"] a.cta');
  await beaconAnswered;
  out.sdk_stats = await page.evaluate(() => window.tailor.stats());
  await sdkErrors();

  // consent_off: refuse, then do what would log; reload in the same session.
  phase = "consent_off";
  await page.click("#consent-off");
  await page.click('[data-tailor-placement="home.hero"] a.cta');
  await page.click('[data-tailor-placement="checkout.banner"] button');
  await sdkErrors();
  await page.reload({ waitUntil: "domcontentloaded" });
  const secondLoad = await load();
  await page.waitForTimeout(1500); // longer than visibility (1 s) + batching (0.25 s)
  await page.evaluate(() => window.tailor.flush());
  await sdkErrors();
  out.after_reload = { consent: secondLoad.consent, anonymous_id_stable: secondLoad.anonymousId === firstLoad.anonymousId, loaded: true };

  // What was sent, and what Tailor answered.
  const sent = requests.events.filter((r) => r.phase !== "consent_off");
  const byType = { impression: [], click: [] };
  const typeOf = new Map();
  for (const event of sent.flatMap((r) => r.events)) {
    if (typeOf.has(event.event_id)) {
      if (typeOf.get(event.event_id) !== event.type) out.problems.push(`event ${event.event_id} sent with two types`);
      continue;
    }
    typeOf.set(event.event_id, event.type);
    (byType[event.type] ||= []).push(event.event_id);
  }
  out.impressions = byType.impression.length;
  out.clicks = byType.click.length;
  // A resent event appears twice in what was sent: count each id once.
  out.impressions_by_placement = {};
  const once = new Set();
  for (const event of impressionsSent()) {
    if (once.has(event.event_id)) continue;
    once.add(event.event_id);
    const p = placementOf.get(event.tracking_token) || "(unknown)";
    out.impressions_by_placement[p] = (out.impressions_by_placement[p] || 0) + 1;
  }
  out.event_ids = byType;
  const firstIds = first && first.record ? first.record.events.map((e) => e.event_id) : [];
  const later = new Set(requests.events.filter((r) => r !== first?.record).flatMap((r) => r.events.map((e) => e.event_id)));
  out.requests = {
    events: requests.events.length,
    failed_first: !!first,
    first_reached_server: !!first && first.status === 202,
    retried_same_ids: firstIds.length > 0 && firstIds.every((id) => later.has(id)),
    beacons: requests.events.filter((r) => r.via === "ping").length,
    server_statuses: requests.events.map((r) => r.status),
    context: requests.context,
    content: requests.content.length,
    placements_per_content_request: requests.content.map((c) => c.placements.length),
    content_with_cohort: requests.content.every((c) => c.cohort && !c.anonymous_header),
  };
  const answers = requests.events.map((r) => r.answer).filter(Boolean);
  out.answers = {
    accepted: answers.reduce((n, a) => n + (a.accepted || 0), 0),
    duplicates: answers.reduce((n, a) => n + (a.duplicates || 0), 0),
    rejected: answers.flatMap((a) => a.rejected || []),
    // A beacon's answer cannot be read: its events, when Tailor answered 202.
    unread: requests.events.filter((r) => !r.answer && r.status === 202).reduce((n, r) => n + r.events.length, 0),
  };
  out.consent_off_sent = requests.events.filter((r) => r.phase === "consent_off").length;

  // The checks (the Rust test asserts the database; these say what the page saw).
  const check = (condition, problem) => { if (!condition) out.problems.push(problem); };
  for (const s of shown) {
    check(s.state === "rendered", `${s.placement} was not rendered (${s.state})`);
    check(s.locale === LOCALE, `${s.placement} is in ${s.locale}, not ${LOCALE}`);
  }
  check(requests.content.length === 2 && requests.content.every((c) => c.placements.length === 3), "one content request per page load for all three placements");
  check(out.requests.content_with_cohort, "content URLs carry the cohort key and no person header");
  check(requests.context === 1, `the cohort was asked ${requests.context} times in one session`);
  check(out.impressions === 3, `${out.impressions} impressions sent, not 3`);
  check(PLACEMENTS.every((p) => out.impressions_by_placement[p] === 1), "one impression per placement");
  check(!out.footer_before_scroll, "the footer's impression was sent before it was scrolled to");
  check(out.clicks === 1, `${out.clicks} clicks sent, not 1`);
  check(requests.events.some((r) => r.phase === "clicked" && r.via === "ping"), "the click was not sent by sendBeacon");
  check(out.requests.first_reached_server && out.requests.retried_same_ids, "the lost batch was not resent with the same ids");
  check(out.requests.server_statuses.every((s) => s === 202), `Tailor answered ${out.requests.server_statuses}`);
  check(out.answers.accepted + out.answers.unread === 4 && out.answers.rejected.length === 0,
    `Tailor accepted ${out.answers.accepted} (+${out.answers.unread} unread), rejected ${out.answers.rejected.length}`);
  check(out.answers.duplicates >= 1, "the resend was not answered as duplicates");
  check(out.consent_off_sent === 0, `${out.consent_off_sent} event requests after consent was withdrawn`);
  check(secondLoad.consent === false, "consent off was not remembered");
  check(out.after_reload.anonymous_id_stable, "the anonymous id changed on reload");
  check(out.errors.length === 0, "errors on the page");
  out.ok = out.problems.length === 0;
} catch (error) {
  out.problems.push(`aborted in phase ${phase}: ${error.message.split("\n")[0]}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(out.ok ? 0 : 1);
