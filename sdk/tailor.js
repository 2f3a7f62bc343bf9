export const VERSION = "1.0.0";
// Tailor web SDK: content for a page's placements, and engagement events back.
// A dependency-free ES module for modern browsers; see sdk/README.md for the guide.
//
//   import { Tailor } from "https://tailor.example.com/sdk/tailor.js";
//   const tailor = new Tailor({ apiBase: "https://tailor.example.com" });
//   await tailor.load(); // fills every [data-tailor-placement] element on the page
//
// Data flow: GET /v1/context once per session (the cohort key, kept in sessionStorage)
// -> GET /v1/content?placements=a,b&channel=web&cohort=<key> (one shareable URL)
// -> render with textContent / checked attributes -> impressions when an element is
// really seen (IntersectionObserver), clicks through navigator.sendBeacon -> POST
// /v1/events, retried with the same event ids (the server counts an id once).

const ID = /^[A-Za-z0-9_.:-]{1,128}$/; // what the server takes as an anonymous id
const SAFE_SCHEMES = ["http:", "https:", "mailto:", "tel:"];
const URL_ATTRIBUTES = ["href", "src"];
const TEXT_ATTRIBUTES = ["alt", "title", "aria-label", "aria-description", "placeholder", "value"];
const EVENT_TYPES = ["impression", "view", "click", "conversion", "dismiss", "opt_in", "opt_out", "share", "feedback"];
const MAX_PLACEMENTS = 20; // per content request (the server's max_batch_placements)
const MAX_BATCH = 50; // events per POST (the server takes 500)
const MAX_BEACON_BYTES = 60000; // browsers refuse beacons (and keepalive) over 64 KiB
const RTL = /^(ar|fa|he|ps|ur|yi)(-|$)/i;

/** An error from the API (`problem` is its problem+json body when there is one). */
export class TailorError extends Error {
  constructor(message, status = 0, problem = null) {
    super(message);
    this.name = "TailorError";
    this.status = status;
    this.problem = problem;
  }
}

/** `value` as an absolute URL when its scheme is http, https, mailto or tel (relative
 * URLs resolve against `base`), else null: never javascript:, data:, vbscript:... */
export function safeUrl(value, base) {
  if (typeof value !== "string" || value.trim() === "") return null;
  try {
    // The URL parser normalises exactly as the browser will ("java\tscript:" is
    // javascript:), so what is checked is what gets set.
    const url = new URL(value, base);
    return SAFE_SCHEMES.includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** Sets an element's text. Never HTML: markup in content shows as text. */
export function setText(element, value) {
  element.textContent = value == null ? "" : String(value);
}

/** Sets one allowed attribute: `href`/`src` through `safeUrl` (an unsafe URL removes
 * the attribute), or a plain-text one (`alt`, `title`, `aria-label`...). Returns
 * whether it was set; other attributes (`on*`, `style`, `srcdoc`...) are refused. */
export function setAttr(element, name, value, base) {
  name = String(name).toLowerCase();
  if (URL_ATTRIBUTES.includes(name)) {
    const url = safeUrl(value, base);
    if (url === null) element.removeAttribute(name);
    else element.setAttribute(name, url);
    return url !== null;
  }
  if (!TEXT_ATTRIBUTES.includes(name) || value == null || typeof value === "object") return false;
  element.setAttribute(name, String(value));
  return true;
}

/** A field by name, or a dotted path into a data field (`meta.style`). */
function fieldOf(fields, path) {
  let value = fields;
  for (const part of path.split(".")) value = value != null && typeof value === "object" ? value[part] : undefined;
  return value;
}

/** Whether an item is content (not an empty decision or a problem). */
const isContent = (item) => !!(item && item.variant && item.fields && !item.status);

export class Tailor {
  /** See sdk/README.md for every option. */
  constructor(options = {}) {
    const g = globalThis;
    const env = { fetch: g.fetch && g.fetch.bind(g), window: g.window, document: g.document,
      navigator: g.navigator, IntersectionObserver: g.IntersectionObserver, crypto: g.crypto,
      Blob: g.Blob, setTimeout: (f, ms) => g.setTimeout(f, ms), clearTimeout: (t) => g.clearTimeout(t),
      now: () => Date.now(), random: Math.random, ...options.env };
    env.localStorage ??= storage(() => g.localStorage);
    env.sessionStorage ??= storage(() => g.sessionStorage);
    this.env = env;
    this.api = String(options.apiBase || "").replace(/\/+$/, "");
    if (!/^https?:\/\//.test(this.api)) throw new TailorError("apiBase must be an http(s) URL");
    this.channel = options.channel || "web";
    this.locale = options.locale || null; // null: the browser's Accept-Language decides
    this.device = options.device || null;
    this.identityToken = options.identityToken || null; // a string, or a function returning one
    this.visibleRatio = options.visibleRatio ?? 0.5;
    this.visibleMs = options.visibleMs ?? 1000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30000;
    this.maxQueue = options.maxQueue ?? 500;
    this.batchDelayMs = options.batchDelayMs ?? 250;
    this.prefix = options.storagePrefix || "tailor.";
    this.onError = options.onError || (() => {});
    this.counts = { impressions: 0, clicks: 0, events: 0, requests: 0, beacons: 0, accepted: 0,
      duplicates: 0, rejected: 0, dropped: 0, discarded: 0, retries: 0 };
    this.queue = []; // { event, attempts } waiting to be sent
    this.sending = null; // the batch of a POST in flight, with its AbortController
    this.timer = null; // the next send (after batchDelayMs, or a retry's backoff)
    this.idle = []; // flush() callers waiting for an empty queue
    this.tracked = new Map(); // element -> the item it shows
    this.logged = new WeakMap(); // element -> tracking tokens whose impression was logged
    this.seeing = new Map(); // element -> timer while it is visible enough
    this.clickBound = new WeakSet();
    this.anonymousId = this.#anonymousId(options);
    const stored = read(env.localStorage, this.prefix + "consent");
    this.consent = stored === null ? options.consent ?? true : stored === "granted";
    this.#listen();
  }

  /** The person's cohort key: from sessionStorage while it is valid, else asked once
   * (concurrent callers share the request). `refresh` asks again. */
  async cohort({ refresh = false } = {}) {
    // Per person: an identity token (by a digest, never the token) may carry segments.
    const token = this.#authHeaders().Authorization;
    const key = `${this.prefix}cohort.${this.anonymousId}${token ? "." + digest(token) : ""}`;
    const cached = parse(read(this.env.sessionStorage, key));
    const fresh = (c) => c && (!c.expires_at || Date.parse(c.expires_at) - this.env.now() > 60000);
    if (!refresh && fresh(cached)) return cached.cohort;
    this.cohortRequest ??= (async () => {
      const response = await this.env.fetch(`${this.api}/v1/context`, { headers: this.#personHeaders(), credentials: "omit" });
      const body = await answer(response, "GET /v1/context");
      write(this.env.sessionStorage, key, JSON.stringify({ cohort: body.cohort, expires_at: body.expires_at }));
      return body.cohort;
    })().finally(() => { this.cohortRequest = null; });
    return this.cohortRequest;
  }

  /** Content for several placements, in one request per 20: the API's items in the
   * order asked (a content answer, an empty decision or a problem each). */
  async getContent(placements) {
    const ids = [...new Set(placements)];
    if (ids.length === 0) return [];
    const chunks = [];
    for (let i = 0; i < ids.length; i += MAX_PLACEMENTS) chunks.push(ids.slice(i, i + MAX_PLACEMENTS));
    const byId = new Map();
    for (const items of await Promise.all(chunks.map((c) => this.#content(c)))) {
      for (const item of items) byId.set(item.placement, item);
    }
    return placements.map((id) => byId.get(id));
  }

  async #content(ids, again = false) {
    let cohort = null;
    try {
      cohort = await this.cohort({ refresh: again });
    } catch (error) {
      this.onError(error); // no key: ask with the person instead (a private answer)
    }
    let query = `placements=${ids.map(encodeURIComponent).join(",")}&channel=${encodeURIComponent(this.channel)}`;
    if (this.locale) query += `&locale=${encodeURIComponent(this.locale)}`;
    if (this.device) query += `&device=${encodeURIComponent(this.device)}`;
    if (cohort) query += `&cohort=${encodeURIComponent(cohort)}`;
    // With a cohort key the URL alone says everything: no person header, so it is a
    // simple request and a shared cache can answer it for the whole cohort.
    const headers = cohort ? this.#authHeaders() : this.#personHeaders();
    const response = await this.env.fetch(`${this.api}/v1/content?${query}`, { headers, credentials: "omit" });
    if (response.status === 400 && cohort && !again) {
      const problem = await response.clone().json().catch(() => null);
      if (problem && problem.type === "invalid-cohort") return this.#content(ids, true);
    }
    return (await answer(response, "GET /v1/content")).items || [];
  }

  /** Fills `element` with `item`: `[data-tailor-field="title"]` gets the field's text,
   * `[data-tailor-attr="href:cta alt:title"]` checked attributes. Sets `lang`, `dir`,
   * `data-tailor-variant` and `data-tailor-state` (rendered, empty or error); for an
   * empty decision or a problem the element keeps its own (fallback) content. */
  render(element, item) {
    if (!isContent(item)) {
      element.setAttribute("data-tailor-state", item && item.variant === null ? "empty" : "error");
      return false;
    }
    const base = (element.ownerDocument && element.ownerDocument.baseURI) || undefined;
    const targets = [element, ...element.querySelectorAll("[data-tailor-field],[data-tailor-attr]")];
    for (const el of targets) {
      const name = el.getAttribute("data-tailor-field");
      const text = name ? fieldOf(item.fields, name) : undefined;
      if (text != null && typeof text !== "object") setText(el, text); // a missing field keeps the fallback
      for (const pair of (el.getAttribute("data-tailor-attr") || "").split(/\s+/).filter(Boolean)) {
        const [attr, field] = pair.split(":");
        const value = field ? fieldOf(item.fields, field) : null;
        if (value != null) setAttr(el, attr, value, base); // absent: the fallback stays
      }
    }
    element.setAttribute("lang", item.locale);
    element.setAttribute("dir", RTL.test(item.locale) ? "rtl" : "ltr");
    element.setAttribute("data-tailor-variant", item.variant.id);
    element.setAttribute("data-tailor-state", "rendered");
    return true;
  }

  /** Logs `element`'s impression once it is seen (see visibleRatio, visibleMs) and a
   * click when a link, button or `[data-tailor-click]` inside it is clicked
   * (`data-tailor-event="dismiss"` logs that type instead). */
  track(element, item) {
    if (!isContent(item) || !item.tracking_token) return;
    const before = this.tracked.get(element);
    this.tracked.set(element, item);
    if (before && before.tracking_token !== item.tracking_token && this.observer) {
      this.#unsee(element); // new content in the same element: time it afresh
      this.observer.unobserve(element);
    }
    if (!this.clickBound.has(element)) {
      this.clickBound.add(element);
      element.addEventListener("click", (e) => this.#clicked(element, e), { capture: true, passive: true });
    }
    if (this.consent) this.#observer().observe(element);
  }

  /** Stops tracking `element`. */
  untrack(element) {
    this.tracked.delete(element);
    this.#unsee(element);
    if (this.observer) this.observer.unobserve(element);
  }

  /** Finds `[data-tailor-placement]` elements under `root`, asks for all of them in
   * one call, renders and tracks each. Resolves with the items. */
  async load(root = this.env.document) {
    const elements = [...root.querySelectorAll("[data-tailor-placement]")];
    let items;
    try {
      items = await this.getContent(elements.map((el) => el.getAttribute("data-tailor-placement")));
    } catch (error) {
      for (const el of elements) el.setAttribute("data-tailor-state", "error");
      throw error;
    }
    elements.forEach((el, i) => { if (this.render(el, items[i])) this.track(el, items[i]); });
    return items;
  }

  /** Logs an event for an item (or its tracking token); `extra` may carry `revenue` or
   * `feedback`. Returns the event id, or null when nothing is logged (no consent, no
   * token). `beacon: true` sends it at once with navigator.sendBeacon. */
  logEvent(type, item, extra = {}, { beacon = false } = {}) {
    const token = typeof item === "string" ? item : item && item.tracking_token;
    if (!this.consent || !token || !EVENT_TYPES.includes(type)) return null;
    const event = { event_id: uuid(this.env.crypto), type, tracking_token: token,
      occurred_at: new Date(this.env.now()).toISOString(), anonymous_id: this.anonymousId };
    if (extra.revenue) event.revenue = extra.revenue;
    if (extra.feedback) event.feedback = extra.feedback;
    this.counts.events++;
    if (!(beacon && this.#beacon([event]))) this.#enqueue({ event, attempts: 0 });
    return event.event_id;
  }

  /** Turns all logging on or off, remembered in localStorage. Off drops queued events,
   * cancels retries and the request in flight, and stops watching elements. */
  setConsent(granted) {
    this.consent = !!granted;
    write(this.env.localStorage, this.prefix + "consent", this.consent ? "granted" : "denied");
    if (this.consent) {
      for (const el of this.tracked.keys()) this.#observer().observe(el);
      return;
    }
    this.counts.discarded += this.queue.length;
    this.queue = [];
    if (this.sending) this.sending.abort.abort();
    if (this.timer !== null) this.env.clearTimeout(this.timer);
    this.timer = null;
    if (this.observer) this.observer.disconnect();
    for (const el of [...this.seeing.keys()]) this.#unsee(el);
    this.#settle();
  }

  hasConsent() { return this.consent; }

  /** Sends what is queued now and resolves (with `stats()`) once nothing is queued or
   * in flight: every event answered, or dropped after maxAttempts. */
  flush() {
    if (this.timer !== null && !this.retrying) {
      this.env.clearTimeout(this.timer);
      this.timer = null;
      this.#send();
    }
    return new Promise((resolve) => { this.idle.push(resolve); this.#settle(); });
  }

  /** Counters, and what is queued or in flight right now. */
  stats() {
    return { ...this.counts, queued: this.queue.length, inFlight: this.sending ? this.sending.batch.length : 0, consent: this.consent };
  }

  // ---- people -------------------------------------------------------------------

  #anonymousId(options) {
    if (options.anonymousId != null) {
      if (!ID.test(options.anonymousId)) throw new TailorError("anonymousId: 1 to 128 of letters, digits and - _ . :");
      return options.anonymousId;
    }
    const key = this.prefix + "anonymous_id";
    const store = options.persistAnonymousId === false ? null : this.env.localStorage;
    const stored = read(store, key);
    if (stored && ID.test(stored)) return stored;
    const id = uuid(this.env.crypto);
    write(store, key, id); // without storage: this page view only
    return id;
  }

  #authHeaders() {
    const token = typeof this.identityToken === "function" ? this.identityToken() : this.identityToken;
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  #personHeaders() { return { ...this.#authHeaders(), "X-Anonymous-Id": this.anonymousId }; }

  // ---- seeing and clicking ------------------------------------------------------

  #observer() {
    if (!this.observer && !this.env.IntersectionObserver) {
      // No IntersectionObserver (very old browsers): no automatic impressions.
      this.observer = { observe() {}, unobserve() {}, disconnect() {} };
    }
    if (!this.observer) {
      const thresholds = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, this.visibleRatio];
      this.observer = new this.env.IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (this.#enough(entry)) this.#see(entry.target);
          else this.#unsee(entry.target);
        }
      }, { threshold: [...new Set(thresholds)].sort((a, b) => a - b) });
    }
    return this.observer;
  }

  /** Visible enough: visibleRatio of the element, or (an element taller than the
   * screen) visibleRatio of the viewport covered by it. */
  #enough(entry) {
    if (!entry.isIntersecting) return false;
    if (entry.intersectionRatio >= this.visibleRatio) return true;
    const root = entry.rootBounds, seen = entry.intersectionRect;
    return !!(root && seen && root.width * root.height > 0 &&
      (seen.width * seen.height) / (root.width * root.height) >= this.visibleRatio);
  }

  #see(element) {
    if (this.seeing.has(element)) return;
    // A hidden tab counts no time: the timer starts when the page is shown again.
    const hidden = this.env.document && this.env.document.visibilityState === "hidden";
    const timer = hidden ? null : this.env.setTimeout(() => this.#impression(element), this.visibleMs);
    this.seeing.set(element, timer);
  }

  #unsee(element) {
    const timer = this.seeing.get(element);
    if (timer != null) this.env.clearTimeout(timer);
    this.seeing.delete(element);
  }

  #impression(element) {
    this.seeing.set(element, null); // still in view, but done timing
    const item = this.tracked.get(element);
    if (!item || !this.consent) return;
    const logged = this.logged.get(element) || new Set();
    this.logged.set(element, logged);
    if (logged.has(item.tracking_token)) return; // once per token and element per page view
    logged.add(item.tracking_token);
    if (this.logEvent("impression", item)) this.counts.impressions++;
  }

  #clicked(element, e) {
    const item = this.tracked.get(element);
    const target = e.target && e.target.closest && e.target.closest("a[href],button,[data-tailor-click]");
    if (!item || !this.consent || !target || !element.contains(target)) return;
    const type = target.getAttribute("data-tailor-event") || "click";
    // A beacon survives the navigation a link click starts; fetch might not.
    if (this.logEvent(type, item, {}, { beacon: true }) && type === "click") this.counts.clicks++;
  }

  #listen() {
    const { window: win, document: doc } = this.env;
    // Leaving or hiding the page: what is queued goes out as beacons (the last chance).
    const leave = () => this.#beaconQueue();
    if (win && win.addEventListener) win.addEventListener("pagehide", leave);
    if (doc && doc.addEventListener) {
      doc.addEventListener("visibilitychange", () => {
        if (doc.visibilityState === "hidden") {
          leave();
          for (const [el, timer] of this.seeing) if (timer != null) { this.env.clearTimeout(timer); this.seeing.set(el, null); }
        } else {
          for (const el of [...this.seeing.keys()]) { this.seeing.delete(el); this.#see(el); }
        }
      });
    }
  }

  // ---- sending ------------------------------------------------------------------

  /** Sends `events` with navigator.sendBeacon (text/plain: no preflight; the person
   * in each event's anonymous_id, as a beacon carries no headers). Whether the browser
   * took it. Not used with an identity token, which only a header can carry. */
  #beacon(events) {
    const nav = this.env.navigator;
    if (!this.consent || !nav || typeof nav.sendBeacon !== "function" || this.#authHeaders().Authorization) return false;
    const body = JSON.stringify({ events });
    if (body.length > MAX_BEACON_BYTES) return false;
    let ok = false;
    try {
      ok = nav.sendBeacon(`${this.api}/v1/events`, new this.env.Blob([body], { type: "text/plain;charset=UTF-8" }));
    } catch { ok = false; }
    if (ok) this.counts.beacons++;
    return ok;
  }

  #beaconQueue() {
    while (this.queue.length && this.#beacon(this.queue.slice(0, MAX_BATCH).map((q) => q.event))) this.queue.splice(0, MAX_BATCH);
    this.#settle();
  }

  #enqueue(entry) {
    this.queue.push(entry);
    while (this.queue.length + this.stats().inFlight > this.maxQueue && this.queue.length) {
      this.queue.shift(); // the oldest goes first
      this.counts.dropped++;
      this.onError(new TailorError("event queue full: the oldest event was dropped"));
    }
    if (this.timer === null && !this.sending) this.#later(this.batchDelayMs);
  }

  #later(ms, retrying = false) {
    this.retrying = retrying;
    this.timer = this.env.setTimeout(() => { this.timer = null; this.#send(); }, ms);
  }

  /** One POST at a time: the oldest MAX_BATCH events, same ids on every try. */
  async #send() {
    if (this.sending || !this.consent || this.queue.length === 0) return this.#settle();
    const batch = this.queue.splice(0, MAX_BATCH);
    const abort = new AbortController();
    this.sending = { batch, abort };
    const body = JSON.stringify({ events: batch.map((q) => q.event) });
    let response = null;
    try {
      this.counts.requests++;
      // text/plain (and no headers without an identity token): a simple request, no preflight.
      response = await this.env.fetch(`${this.api}/v1/events`, { method: "POST", body, credentials: "omit",
        headers: { "Content-Type": "text/plain;charset=UTF-8", ...this.#authHeaders() },
        keepalive: body.length <= MAX_BEACON_BYTES, signal: abort.signal });
      if (response.status >= 200 && response.status < 300) this.#answered(batch, await response.json().catch(() => ({})));
    } catch {
      response = null; // a network error (or an abort)
    }
    this.sending = null;
    if (!this.consent) { // consent withdrawn meanwhile: nothing more
      this.counts.discarded += batch.length;
      return this.#settle();
    }
    const status = response ? response.status : 0;
    if (response && status >= 200 && status < 300) {
      if (this.queue.length) void this.#send(); // more waiting: no need to wait
    } else if (status === 0 || status === 408 || status === 429 || status >= 500) {
      this.#retry(batch, response);
    } else {
      this.counts.dropped += batch.length; // 4xx: this batch will never be taken
      this.onError(new TailorError(`POST /v1/events answered ${status}; ${batch.length} events dropped`, status));
      if (this.queue.length) void this.#send(); // more waiting: no need to wait
    }
    this.#settle();
  }

  #answered(batch, result) {
    this.counts.accepted += result.accepted || 0;
    this.counts.duplicates += result.duplicates || 0;
    const again = [];
    for (const r of result.rejected || []) {
      const entry = batch[r.index];
      if (!entry) continue;
      if (r.field === "occurred_at" && entry.event.occurred_at) {
        delete entry.event.occurred_at; // our clock is off: let the server's stamp it
        again.push(entry);
      } else {
        this.counts.rejected++;
        this.onError(new TailorError(`event ${entry.event.event_id} rejected: ${r.field} ${r.reason}`, 202, r));
      }
    }
    this.queue.unshift(...again);
  }

  #retry(batch, response) {
    const attempts = batch[0].attempts + 1;
    if (attempts >= this.maxAttempts) {
      this.counts.dropped += batch.length;
      this.onError(new TailorError(`POST /v1/events failed ${attempts} times; ${batch.length} events dropped`, response ? response.status : 0));
      if (this.queue.length) void this.#send(); // more waiting: no need to wait
      return;
    }
    for (const entry of batch) entry.attempts = attempts;
    this.queue.unshift(...batch);
    this.counts.retries++;
    // Exponential backoff with jitter, or the server's Retry-After; both bounded.
    let wait = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempts - 1)) * (0.5 + this.env.random() / 2);
    const after = response && response.headers && response.headers.get("Retry-After");
    if (after) {
      const ms = /^\d+$/.test(after) ? Number(after) * 1000 : Date.parse(after) - this.env.now();
      if (ms >= 0) wait = Math.min(ms, Math.max(this.retryMaxMs, 60000));
    }
    if (this.timer !== null) this.env.clearTimeout(this.timer);
    this.#later(wait, true);
  }

  /** Wakes flush() callers once nothing is queued or in flight. */
  #settle() {
    if ((this.queue.length && this.consent) || this.sending) return;
    for (const resolve of this.idle.splice(0)) resolve(this.stats());
  }
}

// ---- storage that may be missing or refuse (private modes, sandboxed frames) --------

function storage(get) {
  try {
    const s = get();
    return s && typeof s.getItem === "function" ? s : null;
  } catch {
    return null;
  }
}

const memory = new Map(); // the fallback: this page view only

function read(store, key) {
  try {
    if (store) return store.getItem(key);
  } catch { /* fall through to memory */ }
  return memory.has(key) ? memory.get(key) : null;
}

function write(store, key, value) {
  memory.set(key, value);
  try {
    if (store) store.setItem(key, value);
  } catch { /* memory keeps it */ }
}

/** A random (v4) UUID. crypto.randomUUID exists only in secure contexts (https,
 * localhost); getRandomValues everywhere. */
function uuid(crypto) {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** FNV-1a, 32 bits: tells tokens apart in a storage key without storing them. */
function digest(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** The JSON body of a 2xx answer, else a TailorError with the problem. */
async function answer(response, what) {
  if (response.ok) return response.json();
  const problem = await response.json().catch(() => null);
  throw new TailorError(`${what} answered ${response.status}${problem && problem.type ? ` (${problem.type})` : ""}`, response.status, problem);
}
