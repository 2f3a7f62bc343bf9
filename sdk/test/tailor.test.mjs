// Unit tests of sdk/tailor.js: `node --test sdk/test/`. Node's own test runner and
// assert; fetch, timers, storage, IntersectionObserver, sendBeacon and the DOM are the
// small fakes below (the browser test, tests/browser/sdk.mjs, runs the real thing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Tailor, TailorError, VERSION, safeUrl, setAttr, setText } from "../tailor.js";

const API = "https://tailor.example.com";
const START = Date.parse("2026-12-01T10:00:00Z");

// ---- fakes ---------------------------------------------------------------------

/** Timers on a clock that moves only when told. */
class Clock {
  constructor() { this.now = START; this.timers = new Map(); this.next = 1; }
  setTimeout = (fn, ms) => { const id = this.next++; this.timers.set(id, { at: this.now + Math.max(0, ms || 0), fn }); return id; };
  clearTimeout = (id) => { this.timers.delete(id); };
  /** Moves time forward by `ms`, running due timers (and the promises they start). */
  async tick(ms) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = Math.max(this.now, due[1].at);
      due[1].fn();
    }
    this.now = end;
    await settle();
  }
}

async function settle() { for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); }

class MemoryStorage {
  constructor() { this.map = new Map(); }
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.map.set(k, String(v)); }
  removeItem(k) { this.map.delete(k); }
}

class BrokenStorage {
  getItem() { throw new Error("SecurityError"); }
  setItem() { throw new Error("QuotaExceededError"); }
}

/** fetch: records each call and answers with `handler(call)` (a Response, or throws). */
function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const call = { url: String(url), method: init.method || "GET", headers: { ...(init.headers || {}) }, body: init.body, init };
    if (call.body) call.events = JSON.parse(call.body).events;
    calls.push(call);
    if (init.signal && init.signal.aborted) throw new Error("aborted");
    return handler(call, calls);
  };
  return { fetch, calls };
}

const json = (body, status = 200, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
const accepted = (call) => json({ accepted: call.events.length, duplicates: 0, rejected: [] }, 202);

/** A minimal element: attributes, text, children, closest/querySelectorAll on simple
 * selectors (tag, [attr], [attr="v"], comma lists), click listeners. Setting innerHTML
 * throws, so a render that used it would fail the tests. */
class El {
  constructor(tag, attrs = {}, children = []) {
    this.tagName = tag.toUpperCase();
    this.attrs = new Map(Object.entries(attrs));
    this.children = [];
    this.parent = null;
    this.text = "";
    this.listeners = [];
    this.ownerDocument = { baseURI: "https://shop.example.com/home" };
    for (const c of children) { c.parent = this; this.children.push(c); }
  }
  set innerHTML(_) { throw new Error("innerHTML used"); }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(""); }
  set textContent(v) { this.text = v; this.children = []; }
  getAttribute(n) { return this.attrs.has(n) ? this.attrs.get(n) : null; }
  setAttribute(n, v) { this.attrs.set(n, String(v)); }
  removeAttribute(n) { this.attrs.delete(n); }
  hasAttribute(n) { return this.attrs.has(n); }
  matches(selector) {
    return selector.split(",").some((s) => {
      const m = s.trim().match(/^([a-z]*)(?:\[([a-z-]+)(?:="([^"]*)")?\])?$/);
      if (!m) throw new Error(`selector not faked: ${s}`);
      const [, tag, attr, value] = m;
      return (!tag || this.tagName === tag.toUpperCase()) &&
        (!attr || (this.attrs.has(attr) && (value === undefined || this.attrs.get(attr) === value)));
    });
  }
  querySelectorAll(selector) {
    const found = [];
    const walk = (el) => { for (const c of el.children) { if (c.matches(selector)) found.push(c); walk(c); } };
    walk(this);
    return found;
  }
  closest(selector) { for (let el = this; el; el = el.parent) if (el.matches(selector)) return el; return null; }
  contains(other) { for (let el = other; el; el = el.parent) if (el === this) return true; return false; }
  addEventListener(type, fn, options) { this.listeners.push({ type, fn, capture: !!(options && options.capture) }); }
  /** A click on this element: listeners of it and its ancestors, capture first. */
  click() {
    const path = []; for (let el = this; el; el = el.parent) path.push(el);
    const event = { type: "click", target: this };
    for (const el of [...path].reverse()) for (const l of el.listeners) if (l.type === "click" && l.capture) l.fn(event);
    for (const el of path) for (const l of el.listeners) if (l.type === "click" && !l.capture) l.fn(event);
  }
}

/** The demo's hero markup. */
function heroElement(placement = "home.hero") {
  const title = new El("h1", { "data-tailor-field": "title" }); title.text = "Fallback title";
  const body = new El("p", { "data-tailor-field": "body" });
  const img = new El("img", { "data-tailor-attr": "src:image alt:title" });
  const link = new El("a", { href: "/shop", "data-tailor-field": "cta_label", "data-tailor-attr": "href:cta" });
  const dismiss = new El("button", { "data-tailor-event": "dismiss" });
  const note = new El("span"); // not clickable
  const root = new El("section", { "data-tailor-placement": placement }, [title, body, img, link, dismiss, note]);
  return { root, title, body, img, link, dismiss, note };
}

const item = (placement, extra = {}) => ({
  placement, variant: { id: `${placement}-v1`, version: 1 }, locale: "fr-CA", channel: "web", device: "desktop",
  fields: { title: `Titre ${placement}`, body: "Corps", cta_label: "Magasiner", cta: "https://shop.example.com/winter", image: "https://cdn.example.com/a.jpg", meta: { style: "info" } },
  tracking_token: `tok.${placement}`, warnings: [], ...extra,
});

/** IntersectionObserver whose entries the test delivers. */
function fakeIO() {
  const observers = [];
  class IO {
    constructor(callback, options) { this.callback = callback; this.options = options; this.observed = new Set(); observers.push(this); }
    observe(el) { this.observed.add(el); }
    unobserve(el) { this.observed.delete(el); }
    disconnect() { this.observed.clear(); }
  }
  /** Reports `el` at `ratio` of itself visible (to observers watching it). */
  const show = (el, ratio, rect = null) => {
    for (const o of observers) {
      if (!o.observed.has(el)) continue;
      const entry = { target: el, isIntersecting: ratio > 0, intersectionRatio: ratio,
        rootBounds: { width: 1000, height: 800 }, intersectionRect: rect || { width: 1000 * ratio, height: 100 } };
      o.callback([entry], o);
    }
  };
  return { IO, observers, show };
}

/** A Tailor on fakes; returns the pieces. */
function setup({ handler, options = {}, env = {}, local = new MemoryStorage(), session = new MemoryStorage(), beacon = true } = {}) {
  const clock = new Clock();
  const io = fakeIO();
  const beacons = [];
  const { fetch, calls } = fakeFetch(handler || ((call) => {
    if (call.url.endsWith("/v1/context")) return json({ cohort: "cohort-key-1", bucket: 7, segments: [], expires_at: new Date(START + 3600e3).toISOString() });
    if (call.url.includes("/v1/content?")) {
      const ids = new URL(call.url).searchParams.get("placements").split(",");
      return json({ items: ids.map((id) => item(id)) });
    }
    if (call.url.endsWith("/v1/events")) return accepted(call);
    throw new Error(`unexpected ${call.url}`);
  }));
  const win = { listeners: {}, addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); } };
  const doc = { visibilityState: "visible", listeners: {}, addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); } };
  const navigator = beacon === false ? {} : { sendBeacon: (url, blob) => { beacons.push({ url, blob }); return typeof beacon === "function" ? beacon() : true; } };
  const tailor = new Tailor({
    apiBase: `${API}/`,
    ...options,
    env: { fetch, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: () => clock.now, random: () => 0.5,
      IntersectionObserver: io.IO, navigator, window: win, document: doc, localStorage: local, sessionStorage: session, ...env },
  });
  return { tailor, clock, io, calls, beacons, win, doc, local, session };
}

const eventCalls = (calls) => calls.filter((c) => c.url === `${API}/v1/events`);
const beaconEvents = async (beacons) => Promise.all(beacons.map(async (b) => JSON.parse(await b.blob.text()).events)).then((x) => x.flat());

/** Renders and tracks the hero, then shows it for `ms`. */
async function seenHero(t, ms = 1000, ratio = 0.6) {
  const hero = heroElement();
  t.tailor.render(hero.root, item("home.hero"));
  t.tailor.track(hero.root, item("home.hero"));
  t.io.show(hero.root, ratio);
  await t.clock.tick(ms);
  return hero;
}

// ---- the module ------------------------------------------------------------------

test("the first line is the version the server serves it under", () => {
  const first = readFileSync(new URL("../tailor.js", import.meta.url), "utf8").split("\n")[0];
  assert.equal(first, `export const VERSION = "${VERSION}";`);
  assert.match(VERSION, /^\d+\.\d+\.\d+$/);
});

test("the module imports nothing and never writes HTML", () => {
  const source = readFileSync(new URL("../tailor.js", import.meta.url), "utf8");
  assert.doesNotMatch(source, /^\s*import\s/m);
  assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
});

// ---- render helpers ---------------------------------------------------------------

test("safeUrl allows http, https, mailto, tel and relative URLs only", () => {
  const base = "https://shop.example.com/a/";
  assert.equal(safeUrl("https://x.example/p?q=1", base), "https://x.example/p?q=1");
  assert.equal(safeUrl("http://x.example/", base), "http://x.example/");
  assert.equal(safeUrl("mailto:help@example.com", base), "mailto:help@example.com");
  assert.equal(safeUrl("tel:+15145550100", base), "tel:+15145550100");
  assert.equal(safeUrl("/sale", base), "https://shop.example.com/sale");
  assert.equal(safeUrl("b?c", base), "https://shop.example.com/a/b?c");
  for (const bad of ["javascript:alert(1)", "JavaScript:alert(1)", "  javascript:alert(1)", "java\tscript:alert(1)",
    "java\nscript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "blob:https://x/1",
    "file:///etc/passwd", "", "   ", null, undefined, 42, { href: "https://x" }]) {
    assert.equal(safeUrl(bad, base), null, String(bad));
  }
});

test("setAttr checks URLs, takes only plain-text attributes, and setText writes text", () => {
  const a = new El("a", { href: "/fallback" });
  assert.equal(setAttr(a, "href", "javascript:alert(1)", "https://s.example/"), false);
  assert.equal(a.getAttribute("href"), null, "an unsafe URL removes the attribute");
  assert.equal(setAttr(a, "HREF", "/ok", "https://s.example/"), true);
  assert.equal(a.getAttribute("href"), "https://s.example/ok");
  for (const refused of ["onclick", "onerror", "style", "srcdoc", "formaction", "action", "xlink:href"]) {
    assert.equal(setAttr(a, refused, "alert(1)"), false, refused);
    assert.equal(a.getAttribute(refused), null, refused);
  }
  assert.equal(setAttr(a, "alt", { not: "text" }), false);
  assert.equal(setAttr(a, "title", "Soldes"), true);
  setText(a, "<img src=x onerror=alert(1)>");
  assert.equal(a.textContent, "<img src=x onerror=alert(1)>");
  setText(a, null);
  assert.equal(a.textContent, "");
});

test("render fills fields as text and checked attributes, and marks the element", () => {
  const { tailor } = setup();
  const hero = heroElement();
  const answer = item("home.hero");
  answer.fields.title = "<b>Soldes</b> d\u2068hiver\u2069";
  answer.fields.cta = "javascript:alert(document.cookie)";
  assert.equal(tailor.render(hero.root, answer), true);
  assert.equal(hero.title.textContent, "<b>Soldes</b> d\u2068hiver\u2069", "markup stays text; isolation marks kept");
  assert.equal(hero.body.textContent, "Corps");
  assert.equal(hero.img.getAttribute("src"), "https://cdn.example.com/a.jpg");
  assert.equal(hero.img.getAttribute("alt"), answer.fields.title);
  assert.equal(hero.link.textContent, "Magasiner");
  assert.equal(hero.link.getAttribute("href"), null, "a javascript: link is not set");
  assert.equal(hero.root.getAttribute("lang"), "fr-CA");
  assert.equal(hero.root.getAttribute("dir"), "ltr");
  assert.equal(hero.root.getAttribute("data-tailor-variant"), "home.hero-v1");
  assert.equal(hero.root.getAttribute("data-tailor-state"), "rendered");

  const arabic = heroElement();
  tailor.render(arabic.root, { ...item("home.hero"), locale: "ar" });
  assert.equal(arabic.root.getAttribute("dir"), "rtl");

  const banner = new El("aside", {}, [new El("span", { "data-tailor-field": "meta.style" })]);
  tailor.render(banner, item("checkout.banner"));
  assert.equal(banner.children[0].textContent, "info", "a dotted path reads a data field");
});

test("an empty decision or a problem keeps the element's fallback content", () => {
  const { tailor } = setup();
  const empty = heroElement();
  assert.equal(tailor.render(empty.root, { placement: "home.hero", variant: null, locale: "fr-CA", fields: {}, tracking_token: null, warnings: [] }), false);
  assert.equal(empty.root.getAttribute("data-tailor-state"), "empty");
  assert.equal(empty.title.textContent, "Fallback title");
  const problem = heroElement();
  assert.equal(tailor.render(problem.root, { type: "unknown-placement", title: "Unknown placement", status: 404, detail: "x", placement: "home.hero" }), false);
  assert.equal(problem.root.getAttribute("data-tailor-state"), "error");
  assert.equal(problem.title.textContent, "Fallback title");
  const missing = heroElement();
  const partial = item("home.hero");
  delete partial.fields.title;
  delete partial.fields.cta;
  tailor.render(missing.root, partial);
  assert.equal(missing.title.textContent, "Fallback title", "a field the answer lacks keeps its fallback");
  assert.equal(missing.link.getAttribute("href"), "/shop", "so does an attribute");
});

// ---- the person and the cohort -----------------------------------------------------

test("an anonymous id is made once and kept in localStorage", () => {
  const local = new MemoryStorage();
  const a = setup({ local }).tailor;
  assert.match(a.anonymousId, /^[0-9a-f-]{36}$/);
  assert.equal(local.getItem("tailor.anonymous_id"), a.anonymousId);
  assert.equal(setup({ local }).tailor.anonymousId, a.anonymousId, "the next page view reuses it");
  assert.equal(setup({ local, options: { anonymousId: "site:visitor-42" } }).tailor.anonymousId, "site:visitor-42");
  assert.throws(() => setup({ options: { anonymousId: "no spaces" } }), TailorError);
  assert.throws(() => setup({ options: { anonymousId: "x".repeat(129) } }), TailorError);
  const memoryOnly = new MemoryStorage();
  setup({ local: memoryOnly, options: { persistAnonymousId: false } });
  assert.equal(memoryOnly.getItem("tailor.anonymous_id"), null);
});

test("ids are UUIDs also where crypto.randomUUID is missing (plain http pages)", () => {
  const t = setup({ env: { crypto: { getRandomValues: (a) => globalThis.crypto.getRandomValues(a) } } });
  const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(t.tailor.anonymousId, v4);
  const ids = new Set(Array.from({ length: 50 }, () => t.tailor.logEvent("view", "tok")));
  assert.equal(ids.size, 50);
  for (const id of ids) assert.match(id, v4);
});

test("storage that throws falls back to memory", async () => {
  const t = setup({ local: new BrokenStorage(), session: new BrokenStorage() });
  assert.match(t.tailor.anonymousId, /^[0-9a-f-]{36}$/);
  const items = await t.tailor.getContent(["home.hero"]);
  assert.equal(items[0].placement, "home.hero");
  t.tailor.setConsent(false);
  assert.equal(t.tailor.hasConsent(), false);
});

test("the cohort is asked once per session with the person's header, and reused", async () => {
  const session = new MemoryStorage();
  const local = new MemoryStorage();
  const t = setup({ session, local });
  const [a, b] = await Promise.all([t.tailor.cohort(), t.tailor.cohort()]);
  assert.equal(a, "cohort-key-1");
  assert.equal(b, "cohort-key-1");
  const contexts = () => t.calls.filter((c) => c.url === `${API}/v1/context`);
  assert.equal(contexts().length, 1, "concurrent callers share one request");
  assert.equal(contexts()[0].headers["X-Anonymous-Id"], t.tailor.anonymousId);
  assert.equal(contexts()[0].init.credentials, "omit");
  await t.tailor.getContent(["home.hero"]);
  assert.equal(contexts().length, 1);

  const next = setup({ session, local }); // the next page of the same session
  await next.tailor.getContent(["home.hero"]);
  assert.equal(next.calls.filter((c) => c.url === `${API}/v1/context`).length, 0, "from sessionStorage");
});

test("an expiring cohort key is asked again", async () => {
  const session = new MemoryStorage();
  const local = new MemoryStorage();
  const t = setup({ session, local });
  await t.tailor.cohort();
  const key = [...session.map.keys()].find((k) => k.startsWith("tailor.cohort."));
  session.setItem(key, JSON.stringify({ cohort: "old", expires_at: new Date(START + 30e3).toISOString() }));
  assert.equal(await setup({ session, local }).tailor.cohort(), "cohort-key-1");
  session.setItem(key, JSON.stringify({ cohort: "still-good", expires_at: new Date(START + 600e3).toISOString() }));
  assert.equal(await setup({ session, local }).tailor.cohort(), "still-good");
});

// ---- content ---------------------------------------------------------------------

test("several placements come in one shareable request, in the order asked", async () => {
  const t = setup();
  const items = await t.tailor.getContent(["home.hero", "checkout.banner", "web.footer_promo"]);
  assert.deepEqual(items.map((i) => i.placement), ["home.hero", "checkout.banner", "web.footer_promo"]);
  const content = t.calls.filter((c) => c.url.includes("/v1/content"));
  assert.equal(content.length, 1);
  assert.equal(content[0].url, `${API}/v1/content?placements=home.hero,checkout.banner,web.footer_promo&channel=web&cohort=cohort-key-1`);
  assert.deepEqual(content[0].headers, {}, "no person header: a simple request, cacheable per cohort");
  assert.equal(content[0].init.credentials, "omit");
});

test("the site's locale and channel go in the URL; more than 20 placements are split", async () => {
  const t = setup({ options: { locale: "de", channel: "mobile_app" } });
  const ids = Array.from({ length: 25 }, (_, i) => `p${i}`);
  const items = await t.tailor.getContent(ids);
  assert.deepEqual(items.map((i) => i.placement), ids);
  const content = t.calls.filter((c) => c.url.includes("/v1/content"));
  assert.equal(content.length, 2);
  assert.deepEqual(content.map((c) => new URL(c.url).searchParams.get("placements").split(",").length), [20, 5]);
  assert.equal(new URL(content[0].url).searchParams.get("locale"), "de");
  assert.equal(new URL(content[0].url).searchParams.get("channel"), "mobile_app");
});

test("an invalid-cohort answer gets a new key and one more try", async () => {
  let contexts = 0;
  const t = setup({ handler: (call) => {
    if (call.url.endsWith("/v1/context")) return json({ cohort: `key-${++contexts}`, expires_at: new Date(START + 3600e3).toISOString() });
    if (call.url.includes("cohort=key-1")) return json({ type: "invalid-cohort", title: "Invalid cohort", status: 400, detail: "expired", field: "cohort" }, 400);
    return json({ items: [item("home.hero")] });
  } });
  const items = await t.tailor.getContent(["home.hero"]);
  assert.equal(items[0].placement, "home.hero");
  assert.equal(contexts, 2);
  assert.match(t.calls.at(-1).url, /cohort=key-2$/);
});

test("without a cohort key, content is asked with the person's header", async () => {
  const errors = [];
  const t = setup({ options: { onError: (e) => errors.push(e) }, handler: (call) => {
    if (call.url.endsWith("/v1/context")) return json({ type: "too-many-requests", status: 429 }, 429, { "Retry-After": "3" });
    return json({ items: [item("home.hero")] });
  } });
  await t.tailor.getContent(["home.hero"]);
  const content = t.calls.at(-1);
  assert.doesNotMatch(content.url, /cohort=/);
  assert.equal(content.headers["X-Anonymous-Id"], t.tailor.anonymousId);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].status, 429);
});

test("load renders and tracks every placement element from one request", async () => {
  const t = setup();
  const hero = heroElement("home.hero");
  const footer = heroElement("web.footer_promo");
  const gone = heroElement("old.placement");
  const doc = new El("body", {}, [hero.root, footer.root, gone.root]);
  const answer = (call) => {
    if (call.url.endsWith("/v1/context")) return json({ cohort: "k" });
    return json({ items: [item("home.hero"), item("web.footer_promo"), { type: "unknown-placement", status: 404, placement: "old.placement" }] });
  };
  t.tailor.env.fetch = fakeFetch(answer).fetch;
  const items = await t.tailor.load(doc);
  assert.equal(items.length, 3);
  assert.equal(hero.title.textContent, "Titre home.hero");
  assert.equal(footer.title.textContent, "Titre web.footer_promo");
  assert.equal(gone.root.getAttribute("data-tailor-state"), "error");
  assert.deepEqual([...t.io.observers[0].observed], [hero.root, footer.root], "content is tracked; a problem is not");
});

test("load marks the elements when the API cannot be reached, and says so", async () => {
  const t = setup({ handler: () => { throw new TypeError("Failed to fetch"); } });
  const hero = heroElement();
  await assert.rejects(t.tailor.load(new El("body", {}, [hero.root])), TypeError);
  assert.equal(hero.root.getAttribute("data-tailor-state"), "error");
  assert.equal(hero.title.textContent, "Fallback title");
});

// ---- impressions -----------------------------------------------------------------

test("an impression is logged after a second at half visible, once", async () => {
  const t = setup();
  const hero = await seenHero(t, 999);
  assert.equal(t.tailor.stats().impressions, 0, "not yet: 999 ms");
  await t.clock.tick(1);
  assert.equal(t.tailor.stats().impressions, 1);
  await t.tailor.flush();
  const [post] = eventCalls(t.calls);
  assert.equal(post.method, "POST");
  assert.equal(post.headers["Content-Type"], "text/plain;charset=UTF-8", "a simple request: no preflight");
  assert.equal(post.init.credentials, "omit");
  assert.equal(post.events.length, 1);
  const [event] = post.events;
  assert.equal(event.type, "impression");
  assert.equal(event.tracking_token, "tok.home.hero");
  assert.equal(event.anonymous_id, t.tailor.anonymousId);
  assert.equal(event.occurred_at, new Date(START + 1000).toISOString());
  assert.match(event.event_id, /^[0-9a-f-]{36}$/);

  // Out of view and back: the same token in the same element is not logged again.
  t.io.show(hero.root, 0);
  t.io.show(hero.root, 1);
  await t.clock.tick(5000);
  await t.tailor.flush();
  assert.equal(t.tailor.stats().impressions, 1);
  assert.equal(eventCalls(t.calls).length, 1);
});

test("too little, or too short, is not an impression", async () => {
  const t = setup();
  const hero = await seenHero(t, 5000, 0.49);
  assert.equal(t.tailor.stats().impressions, 0, "49 % visible");
  t.io.show(hero.root, 0.8);
  await t.clock.tick(700);
  t.io.show(hero.root, 0.2); // left after 0.7 s
  await t.clock.tick(5000);
  assert.equal(t.tailor.stats().impressions, 0);
  t.io.show(hero.root, 0.8);
  await t.clock.tick(1000);
  assert.equal(t.tailor.stats().impressions, 1, "a full second in view this time");
});

test("an element taller than the screen counts when it covers half of it", async () => {
  const t = setup();
  const hero = heroElement();
  t.tailor.render(hero.root, item("home.hero"));
  t.tailor.track(hero.root, item("home.hero"));
  t.io.show(hero.root, 0.3, { width: 1000, height: 450 }); // 30 % of it, 56 % of the viewport
  await t.clock.tick(1000);
  assert.equal(t.tailor.stats().impressions, 1);
});

test("the visibility rule is configurable", async () => {
  const t = setup({ options: { visibleRatio: 0.9, visibleMs: 200 } });
  const hero = await seenHero(t, 5000, 0.8);
  assert.equal(t.tailor.stats().impressions, 0);
  assert.ok(t.io.observers[0].options.threshold.includes(0.9));
  t.io.show(hero.root, 0.95);
  await t.clock.tick(200);
  assert.equal(t.tailor.stats().impressions, 1);
});

test("a hidden tab counts no time, and new content in an element is timed afresh", async () => {
  const t = setup();
  const hero = heroElement();
  t.tailor.track(hero.root, item("home.hero"));
  t.io.show(hero.root, 1);
  await t.clock.tick(500);
  t.doc.visibilityState = "hidden";
  t.doc.listeners.visibilitychange.forEach((f) => f());
  await t.clock.tick(5000);
  assert.equal(t.tailor.stats().impressions, 0);
  t.doc.visibilityState = "visible";
  t.doc.listeners.visibilitychange.forEach((f) => f());
  await t.clock.tick(1000);
  assert.equal(t.tailor.stats().impressions, 1);

  t.tailor.track(hero.root, item("home.hero", { tracking_token: "tok.other" }));
  t.io.show(hero.root, 1);
  await t.clock.tick(1000);
  assert.equal(t.tailor.stats().impressions, 2);
  await t.tailor.flush();
  const tokens = eventCalls(t.calls).flatMap((c) => c.events.map((e) => e.tracking_token));
  assert.deepEqual(tokens.sort(), ["tok.home.hero", "tok.other"]);

  // Scrolled into view while the tab is hidden (a background tab's layout).
  const footer = heroElement("web.footer_promo");
  t.tailor.track(footer.root, item("web.footer_promo"));
  t.doc.visibilityState = "hidden";
  t.io.show(footer.root, 1);
  await t.clock.tick(5000);
  assert.equal(t.tailor.stats().impressions, 2);
  t.doc.visibilityState = "visible";
  t.doc.listeners.visibilitychange.forEach((f) => f());
  await t.clock.tick(1000);
  assert.equal(t.tailor.stats().impressions, 3);
});

test("impressions close together go in one request", async () => {
  const t = setup();
  const a = heroElement("home.hero"), b = heroElement("checkout.banner");
  t.tailor.track(a.root, item("home.hero"));
  t.tailor.track(b.root, item("checkout.banner"));
  t.io.show(a.root, 1);
  await t.clock.tick(100);
  t.io.show(b.root, 1);
  await t.clock.tick(1200);
  await t.tailor.flush();
  assert.equal(eventCalls(t.calls).length, 1);
  assert.equal(eventCalls(t.calls)[0].events.length, 2);
});

// ---- clicks ----------------------------------------------------------------------

test("a click on a link or button is sent at once by sendBeacon, as text/plain", async () => {
  const t = setup();
  const hero = heroElement();
  t.tailor.render(hero.root, item("home.hero"));
  t.tailor.track(hero.root, item("home.hero"));
  hero.link.click();
  assert.equal(t.beacons.length, 1);
  assert.equal(t.beacons[0].url, `${API}/v1/events`);
  assert.equal(t.beacons[0].blob.type, "text/plain;charset=utf-8");
  const [click] = await beaconEvents(t.beacons);
  assert.equal(click.type, "click");
  assert.equal(click.tracking_token, "tok.home.hero");
  assert.equal(click.anonymous_id, t.tailor.anonymousId, "a beacon has no headers: the person is in the event");
  hero.dismiss.click();
  hero.note.click(); // not a link or button: nothing
  const events = await beaconEvents(t.beacons);
  assert.deepEqual(events.map((e) => e.type), ["click", "dismiss"]);
  assert.notEqual(events[0].event_id, events[1].event_id);
  assert.equal(t.tailor.stats().clicks, 1);
  assert.equal(eventCalls(t.calls).length, 0);
});

test("when the browser refuses the beacon, the click is queued and posted", async () => {
  const t = setup({ beacon: () => false });
  const hero = heroElement();
  t.tailor.track(hero.root, item("home.hero"));
  hero.link.click();
  await t.tailor.flush();
  assert.deepEqual(eventCalls(t.calls).flatMap((c) => c.events.map((e) => e.type)), ["click"]);
  const none = setup({ beacon: false });
  const h2 = heroElement();
  none.tailor.track(h2.root, item("home.hero"));
  h2.link.click();
  await none.tailor.flush();
  assert.equal(eventCalls(none.calls).length, 1);
});

test("leaving the page sends what is queued as beacons", async () => {
  const t = setup();
  await seenHero(t, 1000);
  assert.equal(t.tailor.stats().queued, 1);
  t.win.listeners.pagehide.forEach((f) => f());
  assert.equal(t.tailor.stats().queued, 0);
  const events = await beaconEvents(t.beacons);
  assert.deepEqual(events.map((e) => e.type), ["impression"]);
  await t.clock.tick(10000);
  assert.equal(eventCalls(t.calls).length, 0, "not posted a second time");
});

// ---- retries ---------------------------------------------------------------------

test("a 503 is retried after Retry-After with the same event ids", async () => {
  let posts = 0;
  const t = setup({ handler: (call) => {
    if (!call.url.endsWith("/v1/events")) throw new Error("unexpected");
    return ++posts === 1 ? json({ type: "unavailable", status: 503 }, 503, { "Retry-After": "2" }) : accepted(call);
  } });
  await seenHero(t, 1000);
  await t.clock.tick(250); // the batch goes out and fails
  assert.equal(posts, 1);
  await t.clock.tick(1999);
  assert.equal(posts, 1, "waits for Retry-After");
  await t.clock.tick(1);
  assert.equal(posts, 2);
  const [first, second] = eventCalls(t.calls);
  assert.deepEqual(second.events, first.events, "the same events, the same ids");
  const stats = await t.tailor.flush();
  assert.equal(stats.retries, 1);
  assert.equal(stats.accepted, 1);
  assert.equal(stats.queued, 0);
});

test("network errors and 429s back off, bounded, and keep the ids", async () => {
  const outcomes = [() => { throw new TypeError("Failed to fetch"); }, () => json({}, 429), () => json({}, 500), accepted];
  const t = setup({ handler: (call) => outcomes.shift()(call) });
  await seenHero(t, 1000);
  const stats = await Promise.race([t.tailor.flush(), (async () => { await t.clock.tick(60000); return t.tailor.flush(); })()]);
  assert.equal(stats.accepted, 1);
  assert.equal(stats.retries, 3);
  const posts = eventCalls(t.calls);
  assert.equal(posts.length, 4);
  assert.equal(new Set(posts.map((p) => p.events[0].event_id)).size, 1);
});

test("after maxAttempts the events are dropped and reported", async () => {
  const errors = [];
  const t = setup({ options: { maxAttempts: 3, onError: (e) => errors.push(e) }, handler: () => json({}, 502) });
  await seenHero(t, 1000);
  await t.clock.tick(120000);
  const stats = await t.tailor.flush();
  assert.equal(eventCalls(t.calls).length, 3);
  assert.equal(stats.dropped, 1);
  assert.equal(stats.queued, 0);
  assert.match(String(errors.at(-1)), /failed 3 times/);
});

test("a 400 is not retried; an event rejected for its clock is resent without it", async () => {
  const errors = [];
  let posts = 0;
  const t = setup({ options: { onError: (e) => errors.push(e) }, handler: (call) => {
    posts++;
    if (posts === 1) return json({ type: "invalid-parameter", status: 400 }, 400);
    if (posts === 2) return json({ accepted: 0, duplicates: 0, rejected: [{ index: 0, field: "occurred_at", reason: "is more than 5 minutes in the future" }] }, 202);
    return accepted(call);
  } });
  t.tailor.logEvent("conversion", item("home.hero"), { revenue: { amount: "12.50", currency: "EUR" } });
  await t.tailor.flush();
  assert.equal(posts, 1);
  assert.equal(t.tailor.stats().dropped, 1);
  assert.equal(errors[0].status, 400);

  const id = t.tailor.logEvent("click", item("home.hero"));
  await t.tailor.flush();
  const [, second, third] = eventCalls(t.calls);
  assert.equal(second.events[0].occurred_at, new Date(START).toISOString());
  assert.equal(third.events[0].event_id, id);
  assert.equal("occurred_at" in third.events[0], false, "the server's clock decides");
  assert.equal(t.tailor.stats().accepted, 1);
});

test("the queue is bounded: the oldest events go first", async () => {
  const t = setup({ options: { maxQueue: 3 }, handler: () => json({}, 503) });
  const ids = [1, 2, 3, 4, 5].map(() => t.tailor.logEvent("view", "tok"));
  const stats = t.tailor.stats();
  assert.equal(stats.queued, 3);
  assert.equal(stats.dropped, 2);
  t.tailor.flush();
  await settle();
  assert.deepEqual(eventCalls(t.calls)[0].events.map((e) => e.event_id), ids.slice(2));
});

test("logEvent refuses unknown types and events without a token, and carries revenue", async () => {
  const t = setup();
  assert.equal(t.tailor.logEvent("purchase", item("home.hero")), null);
  assert.equal(t.tailor.logEvent("click", { placement: "x", variant: null }), null);
  const id = t.tailor.logEvent("conversion", "tok.home.hero", { revenue: { amount: "12.50", currency: "EUR" }, event_id: "forged" });
  await t.tailor.flush();
  const [event] = eventCalls(t.calls)[0].events;
  assert.equal(event.event_id, id);
  assert.deepEqual(event.revenue, { amount: "12.50", currency: "EUR" });
});

// ---- consent ---------------------------------------------------------------------

test("withdrawing consent stops all logging at once, and is remembered", async () => {
  const local = new MemoryStorage();
  const t = setup({ local, handler: (call) => (call.url.endsWith("/v1/events") ? json({}, 503) : json({ items: [] })) });
  const hero = await seenHero(t, 1000);
  await t.clock.tick(250); // the first try fails; a retry waits
  assert.equal(eventCalls(t.calls).length, 1);
  t.tailor.setConsent(false);
  assert.equal(local.getItem("tailor.consent"), "denied");
  assert.equal(t.tailor.stats().queued, 0, "queued events are dropped");
  assert.equal(t.io.observers[0].observed.size, 0, "nothing is watched");
  hero.link.click();
  assert.equal(t.tailor.logEvent("conversion", "tok"), null);
  t.win.listeners.pagehide.forEach((f) => f());
  await t.clock.tick(120000);
  assert.equal(eventCalls(t.calls).length, 1, "no retry");
  assert.equal(t.beacons.length, 0, "no beacon");
  assert.equal(setup({ local }).tailor.hasConsent(), false, "the next page view remembers");
  assert.equal(setup({ local, options: { consent: true } }).tailor.hasConsent(), false, "stored choice beats the default");
});

test("a request in flight when consent is withdrawn is abandoned", async () => {
  let release;
  const t = setup({ handler: (call) => new Promise((resolve) => { release = () => resolve(accepted(call)); }) });
  t.tailor.logEvent("click", "tok");
  const flushed = t.tailor.flush();
  await settle();
  assert.equal(t.tailor.stats().inFlight, 1);
  const signal = eventCalls(t.calls)[0].init.signal;
  t.tailor.setConsent(false);
  assert.equal(signal.aborted, true);
  release();
  const stats = await flushed;
  assert.equal(stats.inFlight, 0);
  assert.equal(eventCalls(t.calls).length, 1);
});

test("with consent off by default nothing is logged until it is given", async () => {
  const t = setup({ options: { consent: false } });
  const hero = heroElement();
  t.tailor.track(hero.root, item("home.hero"));
  assert.equal(t.io.observers.length, 0, "not even watched");
  hero.link.click();
  assert.equal(t.beacons.length, 0);
  t.tailor.setConsent(true);
  t.io.show(hero.root, 1);
  await t.clock.tick(1000);
  await t.tailor.flush();
  assert.deepEqual(eventCalls(t.calls).flatMap((c) => c.events.map((e) => e.type)), ["impression"]);
});

// ---- identity tokens ---------------------------------------------------------------

test("an identity token goes in Authorization, and clicks then use fetch, not beacons", async () => {
  const t = setup({ options: { identityToken: () => "id.token.sig" } });
  await t.tailor.getContent(["home.hero"]);
  const [context, content] = t.calls;
  assert.equal(context.headers.Authorization, "Bearer id.token.sig");
  assert.equal(content.headers.Authorization, "Bearer id.token.sig");
  const hero = heroElement();
  t.tailor.track(hero.root, item("home.hero"));
  hero.link.click();
  assert.equal(t.beacons.length, 0, "a beacon cannot carry the token");
  await t.tailor.flush();
  const [post] = eventCalls(t.calls);
  assert.equal(post.headers.Authorization, "Bearer id.token.sig");
  assert.equal(post.events[0].type, "click");
});

test("apiBase must be an http(s) URL", () => {
  assert.throws(() => new Tailor({}), TailorError);
  assert.throws(() => new Tailor({ apiBase: "javascript:alert(1)" }), TailorError);
});
