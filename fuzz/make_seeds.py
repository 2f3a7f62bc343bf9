#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the repository's real inputs.

Run from the repository root: python3 fuzz/make_seeds.py. Content and locale seeds
are copies of content/ and locales/ files; the rest are small hand-written inputs taken
from the API tests (tests/api/*.rs) and real header shapes. Tokens are HS256 JWTs signed
with tailor::fuzzing::SECRET, as Tailor's Signer makes them.
"""
import base64, hashlib, hmac, json, os, re, shutil, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
SECRET = b"tailor-fuzzing-secret-0123456789abcdef"

def now_unix():
    import datetime
    return int(datetime.datetime(2026, 11, 21, 10, 15, tzinfo=datetime.timezone.utc).timestamp())

def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def jwt(claims, secret=SECRET):
    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"

def reset():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)

def rule_seeds():
    rules = set()
    for dirpath, _, names in os.walk(os.path.join(ROOT, "content")):
        for n in names:
            for line in open(os.path.join(dirpath, n), encoding="utf-8"):
                m = re.match(r"""\s*rule\s*=\s*(['"])(.*)\1\s*$""", line)
                if m:
                    rules.add(m.group(2).replace('\\"', '"'))
    rules |= {
        'country == "FR"', 'country != "FR"', 'country in ["BE", "FR"]', 'country not in ["DE"]',
        "points >= 100 and points < 300", "points in 100..251", 'segments contains "vip"',
        'segments contains_any ["x", "vip"]', 'not segments contains "vip"',
        'all(channel == "web", any(points > 1000, country == "FR"))',
        '(country == "DE" or country == "FR") and not false',
        "time in 09:00..17:30", 'weekday in ["sat", "sun"]', "date in 2026-11-01..2026-12-01",
        "now >= 2026-11-21T10:00:00Z", "now in 2026-11-20T00:00:00Z..2027-01-10T00:00:00+01:00",
        'tier == "gold"', "bucket < 500", 'language == "fr" and locale != "fr-CA"',
        'device in ["mobile", "tablet"]', 'country == "Ελλάδα" and points == -1.5e3',
        "((((true))))", "not not not false", 'points >= "many"', "country ==",
        'weekday == "someday"', "true or", 'country == "a\\"b\\\\"',
    }
    for i, r in enumerate(sorted(rules)):
        put("rule", f"rule-{i:02}", r)

def content_seeds():
    for dirpath, _, names in os.walk(os.path.join(ROOT, "content")):
        for n in sorted(names):
            if n.endswith(".toml"):
                shutil.copy(os.path.join(dirpath, n), os.path.join(CORPUS, "content_file", n))

def fluent_seeds():
    for locale in sorted(os.listdir(os.path.join(ROOT, "locales"))):
        d = os.path.join(ROOT, "locales", locale)
        for n in sorted(os.listdir(d)):
            if n.endswith(".ftl") and (locale == "en" or n == "home.ftl"):
                shutil.copy(os.path.join(d, n), os.path.join(CORPUS, "fluent", f"{locale}-{n}"))
    put("fluent", "syntax-error.ftl", "ok = fine\nbroken = { $x\n")
    put("fluent", "duplicate.ftl", "a = A\n\n# b\nb = B\nmsg = first\nc = C\nmsg = second\n")
    put("fluent", "nested.ftl", "msg = " + "{ " * 16 + '"deep"' + " }" * 16 + "\n")
    put("fluent", "terms-and-functions.ftl",
        '-brand = Northwind\n    .gender = feminine\nwelcome = { -brand } { NUMBER($points, minimumFractionDigits: 2) }\n'
        'ref = { welcome } { -brand.gender ->\n    [feminine] elle\n   *[other] il\n}\n'
        'sel = { $n ->\n    [0] zero\n    [one] one { "{" }\n   *[other] { $n } { DATETIME($d) }\n}\n')

def token_seeds():
    now = now_unix()
    issued = now - 3600 - (now - 3600) % 10800
    tracking = {"aud": "tailor:tracking", "pl": "home.hero", "va": "home-hero-default", "ve": 1,
                "ch": "web", "dv": "mobile", "lo": "en", "gen": 1, "iat": issued, "exp": issued + 86400}
    put("tracking_token", "tracking", jwt(tracking))
    put("tracking_token", "tracking-segments", jwt(dict(tracking, sg="vip")))
    put("tracking_token", "tracking-expired", jwt(dict(tracking, iat=1000, exp=2000)))
    put("tracking_token", "tracking-no-expiry", jwt({k: v for k, v in tracking.items() if k not in ("iat", "exp")}))
    put("tracking_token", "tracking-forged", jwt(tracking, b"another-secret-another-secret-xx"))
    link = {"aud": "tailor:link", "pl": "email.welcome", "va": "welcome-a", "ve": 2, "ch": "email",
            "dv": "desktop", "lo": "fr", "lk": "cta", "an": "anon:visitor-9", "exp": issued + 86400}
    put("tracking_token", "link", jwt(link))
    put("tracking_token", "open-pixel", jwt({k: v for k, v in link.items() if k != "lk"}))
    cohort = {"aud": "tailor:cohort", "b": 417, "s": ["vip"], "o": ["sms"], "exp": 4102444800}
    put("tracking_token", "cohort", jwt(cohort))
    put("tracking_token", "cohort-expired", jwt(dict(cohort, exp=1000)))
    # Claims alone: the target also signs the raw input as a token's payload.
    put("tracking_token", "claims-tracking.json", json.dumps(tracking))
    put("tracking_token", "claims-cohort.json", json.dumps(cohort))
    put("tracking_token", "claims-link.json", json.dumps(link))
    put("tracking_token", "claims-odd.json", '{"aud":["tailor:tracking"],"pl":"p","va":"v","ve":1,"ch":"web","dv":"x","lo":"en","gen":0,"exp":1e30}')
    put("tracking_token", "alg-none", b64(b'{"alg":"none"}') + "." + b64(json.dumps(tracking).encode()) + ".")
    put("tracking_token", "garbage", "not.a.token")

EVENTS = [
    ("stored-once", [
        {"event_id": "ev-1", "type": "impression", "tracking_token": "$TOKEN", "occurred_at": "2026-11-21T10:13:20Z"},
        {"event_id": "ev-2", "type": "click", "tracking_token": "$TOKEN", "occurred_at": "2026-11-21T10:14:20+00:00"},
        {"event_id": "ev-3", "type": "conversion", "tracking_token": "$TOKEN", "occurred_at": "2026-11-21T11:14:50+01:00",
         "revenue": {"amount": "12.50", "currency": "EUR"}},
        {"event_id": "ev-4", "type": "feedback", "tracking_token": "$TOKEN", "feedback": {"kind": "nps", "score": 9}},
        {"event_id": "ev-5", "type": "feedback", "tracking_token": "$TOKEN", "feedback": {"kind": "csat", "score": 4, "comment": "Très bien"}},
        {"event_id": "ev-5", "type": "feedback", "tracking_token": "$TOKEN", "feedback": {"kind": "csat", "score": 1}},
    ]),
    ("rejections", [
        {"event_id": "ok-1", "type": "impression", "tracking_token": "$TOKEN"},
        {"event_id": "bad-1", "type": "teleport", "tracking_token": "$TOKEN"},
        {"event_id": "bad-2", "type": "click", "tracking_token": "$LINK"},
        {"event_id": "bad-3", "type": "click", "tracking_token": "$TOKEN", "occurred_at": "2026-11-21T12:15:00Z"},
        {"event_id": "bad-4", "type": "conversion", "tracking_token": "$TOKEN", "revenue": {"amount": "-5", "currency": "EUR"}},
        {"event_id": "bad-5", "type": "feedback", "tracking_token": "$TOKEN", "feedback": {"kind": "ces", "score": 8}},
        {"type": "click", "tracking_token": "$TOKEN"},
        "not an object",
        {"event_id": "ok-2", "type": "share", "tracking_token": "$TOKEN"},
    ]),
    ("beacon", [{"event_id": "beacon-1", "type": "dismiss", "tracking_token": "$TOKEN", "anonymous_id": "visitor-9"}]),
    ("expired", [{"event_id": "late-1", "type": "view", "tracking_token": "$EXPIRED"}]),
    ("erasure", [
        {"event_id": "erase-ev-1", "type": "impression", "tracking_token": "$TOKEN", "anonymous_id": "a-del",
         "occurred_at": "2026-11-21T10:15:00Z"},
        {"event_id": "erase-ev-2", "type": "feedback", "tracking_token": "$TOKEN", "anonymous_id": "a-del",
         "feedback": {"kind": "csat", "score": 2, "comment": "Eve from flat 4 was not pleased"}},
    ]),
    ("revenue", [
        {"event_id": "r-1", "type": "conversion", "tracking_token": "$TOKEN", "revenue": {"amount": 19.99, "currency": "USD"}},
        {"event_id": "r-2", "type": "conversion", "tracking_token": "$TOKEN", "revenue": {"amount": "1500", "currency": "JPY"}},
        {"event_id": "r-3", "type": "conversion", "tracking_token": "$TOKEN", "revenue": {"amount": "0.125", "currency": "BHD"}},
        {"event_id": "r-4", "type": "conversion", "tracking_token": "$TOKEN", "revenue": {"amount": "9999999999.99", "currency": "EUR"}},
        {"event_id": "r-5", "type": "conversion", "tracking_token": "$TOKEN", "revenue": {"amount": "1e3", "currency": "XXX"}},
        {"event_id": "r-6", "type": "click", "tracking_token": "$TOKEN", "revenue": {"amount": "1", "currency": "EUR"}},
    ]),
    ("wrong-types", [
        {"event_id": 7, "type": "view", "tracking_token": "$TOKEN"},
        {"event_id": "w-2", "type": ["view"], "tracking_token": "$TOKEN"},
        {"event_id": "w-3", "type": "view", "tracking_token": "$TOKEN", "occurred_at": 1795255200},
        {"event_id": "w-4", "type": "conversion", "tracking_token": "$TOKEN", "revenue": [1, "EUR"]},
        {"event_id": "w-5", "type": "feedback", "tracking_token": "$TOKEN", "feedback": {"kind": "nps", "score": 9.5}},
        {"event_id": "w-6", "type": "feedback", "tracking_token": "$TOKEN", "feedback": None},
        {"event_id": "w-7", "type": "view", "tracking_token": "$TOKEN", "anonymous_id": "has space"},
        {"event_id": "w:8.x_y-z", "type": "view", "tracking_token": "$TOKEN", "placement": "spoofed"},
    ]),
]

def event_seeds():
    for name, events in EVENTS:
        put("events", name + ".json", json.dumps({"events": events}, ensure_ascii=False))
    put("events", "empty.json", '{"events": []}')
    put("events", "not-a-batch.json", '{"event": {}}')

IDENTIFY = [
    {"identifiers": {"customer_id": "C-1", "anonymous_id": "a-2"}},
    {"identifiers": {"customer_id": ["C-7", "C-8"]}},
    {"identifiers": {"customer_id": "C-preview"}, "traits": {"tier": "gold", "order_count": 2}, "consents": {"email": False}},
    {"identifiers": {"anonymous_id": "a-outage"}, "consents": {"sms": False}},
    {"identifiers": {"anonymous_id": "web-a1", "device_id": "dev-1"}},
    {"identifiers": {"customer_id": "C-5", "phone_sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}},
    {"identifiers": {"customer_id": "C-100", "device_id": "dev-1"}, "traits": {"first_name": "Zoé", "points": 1250, "tier": None}},
    {"identifiers": {"passport": "X1"}},
    {"identifiers": {"email_sha256": "ada@example.com"}},
    {"identifiers": {"customer_id": "has space"}},
    {"identifiers": {}},
    {"traits": {"tier": "gold"}},
    {"identifiers": {"customer_id": "C"}, "traits": {"points": "many"}},
    {"identifiers": {"customer_id": "C"}, "traits": {"address": {"city": "Lyon"}}},
    {"identifiers": {"customer_id": 1}},
    {"identifiers": {"anonymous_id": ["a", 1]}},
    {"identifiers": {"customer_id": "C"}, "consents": {"sms": None}},
    {"identifiers": {"customer_id": "C"}, "consents": {"fax": True}},
    {"traits": 1, "extra": 1},
    {"identifiers": {"customer_id": "C", "loyalty_id": "L-9", "social_handle": "@zoe"}, "traits": {"Bad-Name": 1}},
]

def identify_seeds():
    for i, body in enumerate(IDENTIFY):
        put("identify", f"identify-{i:02}.json", json.dumps(body, ensure_ascii=False))
    put("identify", "not-an-object.json", "[]")
    put("identify", "many-traits.json", json.dumps({"identifiers": {"customer_id": "C"},
        "traits": {f"t{i}": i for i in range(101)}}))

ACCEPT = [
    "fr-CA,fr;q=0.9,en;q=0.8",
    "en-GB,en;q=0.9",
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "ja",
    "ar-EG, ar;q=0.9",
    "pl;q=1.0, *;q=0.5",
    "en;q=0.1, fr;q=0.9, de",
    "fr-CA,fr;q=0.8,*;q=0.5,ja;q=0",
    "zh-Hant-TW;q=0.7, sr-Latn-RS;q=0.6, x-klingon;q=0.1",
    "",
    "*",
    "en;q=NaN,fr;q=inf,de;q=-1,ja;q=1e-40",
]
QUERIES = [
    "channel=web&device=mobile&locale=fr-CA",
    "channel=sms&t.first_name=Zo%C3%A9&t.points=1250&utm_source=x",
    "channel=email&country=fr&anonymous_id=visitor-9",
    "placements=home.hero,checkout.banner&locale=en,de",
    "channel=web&channel=sms",
    "id.customer_id=C-1&person_id=p-1",
    "cohort=eyJhbGciOiJIUzI1NiJ9.e30.x&t.tier=gold",
    "locale=&country=FRA&t.points=NaN",
    "channel=kiosk&device=tv&t.store_visits_90d=3",
]

def accept_seeds():
    for i, h in enumerate(ACCEPT):
        put("accept_language", f"header-{i:02}", h)
    for i, q in enumerate(QUERIES):
        put("accept_language", f"pair-{i:02}", ACCEPT[i % len(ACCEPT)] + "\n" + q)
    long = "fr-CA,fr;q=0.9" + ",en-GB;q=0.1" * 60
    put("accept_language", "long-header", long + "\nchannel=web")
    put("accept_language", "long-no-comma", "x" * 600)
    ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"
    put("accept_language", "user-agent", ua + "\nchannel=mobile_app")

def main():
    reset()
    rule_seeds()
    os.makedirs(os.path.join(CORPUS, "content_file"), exist_ok=True)
    content_seeds()
    os.makedirs(os.path.join(CORPUS, "fluent"), exist_ok=True)
    fluent_seeds()
    token_seeds()
    event_seeds()
    identify_seeds()
    accept_seeds()
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print(f"{t}: {len(files)} files, {size} bytes")

main()
