#!/usr/bin/env python3
"""Tailor's load scenarios, each one command. Prints requests/s, p50, p99, errors and the
ratio to the ceiling (GET /healthz in the same run), and writes a JSON summary.

    python3 loadtests/scenarios.py                          # every scenario, SQLite
    python3 loadtests/scenarios.py --database postgres      # PostgreSQL + Redis
    python3 loadtests/scenarios.py anonymous-new identify   # some of them
    python3 loadtests/scenarios.py publish-on-large-catalog --placements 500 --variants 20 --locales 20
    python3 loadtests/scenarios.py --database postgres --pg-params sslmode=disable identify

Scenarios:
  ceiling                   GET /healthz: what the HTTP stack alone does
  anonymous-repeat          GET /v1/content/home.hero, one anonymous visitor again and again
  anonymous-new             the same, a visitor nobody has seen on every request
  identified                an identity token for a person the graph knows (cached)
  cohort                    with a cohort key from GET /v1/context (what an edge caches)
  batch                     GET /v1/content?placements=a,b,c (three placements in one call)
  events                    POST /v1/events, batches of 50, every id new (then rows counted)
  identify                  POST /v1/identify, 32 callers, 3 in 4 create a person
  identify-analyzed         the same after a 5 s warm-up and ANALYZE (planner statistics, as
                            autovacuum gathers within a minute of growth)
  publish-on-large-catalog  generate a large catalog (loadtests/large_catalog.py): validate,
                            first import, restart, RSS, one variant and one Fluent file
                            published and live on a second node, preview

Pinned when `taskset` exists: the server on CPU 0 with one worker, wrk on CPU 1
(`--server-cpu`, `--wrk-cpu`; empty leaves a side unpinned), so the two do not fight and
the ratios of one run mean something. Servers start on every core (start-up and restart
times are a node's own, which parses on all its cores) and are pinned before any load. Needs wrk (apt-get install wrk); PostgreSQL and Redis
on 127.0.0.1 for `--database postgres` (a fresh database per run). Builds the release
binary unless --server-bin is given. Traffic goes to 127.0.0.1 only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG = "postgres://postgres:postgres@127.0.0.1:5432"
SERVER_KEY = "load-server-key-0123456789abcdef"
DEV_SECRET = "load-dev-token-secret-0123456789abcdef"
METRICS_TOKEN = "load-metrics-token-0123456789abcdef"
HERO = "/v1/content/home.hero?channel=web&locale=en"
SCENARIOS = ["ceiling", "anonymous-repeat", "anonymous-new", "identified", "cohort",
             "batch", "events", "identify", "identify-analyzed", "publish-on-large-catalog"]
EVENTS_PER_BATCH = 50

# Appended to every scenario's script: one machine-readable line at the end.
DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nSUMMARY {"requests":%d,"seconds":%.3f,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""

GET_LUA = r"""
local path = os.getenv("LOAD_PATH")
local headers = {}
for name, value in string.gmatch(os.getenv("LOAD_HEADERS") or "", "([^\n:]+): ([^\n]+)") do
  headers[name] = value
end
function request()
  return wrk.format("GET", path, headers)
end
"""


def lua(name):
    """One of the wrk scripts beside this file (the older shell scripts run them too).
    `DONE_LUA`, appended after it, replaces any `done` of its own."""
    with open(os.path.join(REPO, "loadtests", name)) as f:
        return f.read()


def log(message):
    print(message, flush=True)


class Run:
    """One database, one server binary, the pinning and the results of a run."""

    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="tailor-load-")
        self.servers = []
        self.pinned = bool(shutil.which("taskset")) and not args.unpinned
        self.results = {}
        self.port = args.port
        if args.server_bin:
            self.binary = os.path.abspath(args.server_bin)
        else:
            log("building the release binary (cargo build --release)")
            subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
            self.binary = os.path.join(REPO, "target", "release", "tailor")

    # --- servers -------------------------------------------------------------------

    def database(self, name):
        if self.args.database == "sqlite":
            return f"sqlite://{self.work}/{name}.db?mode=rwc"
        env = dict(os.environ, PGPASSWORD="postgres")
        for sql in [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"]:
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres",
                            "-c", sql], env=env, check=True, stdout=subprocess.DEVNULL)
        params = f"?{self.args.pg_params}" if self.args.pg_params else ""
        return f"{PG}/{name}{params}"

    def env(self, database_url, port, extra=None):
        env = dict(os.environ)
        env.update({
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            "DATABASE_URL": database_url,
            "TAILOR_BIND": f"127.0.0.1:{port}",
            "TAILOR_WORKERS": "1",
            # One load generator is one client network and one server key: measure the
            # service, not the per-client limits.
            "TAILOR_RATE_LIMITS__CONTEXT__PER_SECOND": "0",
            "TAILOR_RATE_LIMITS__EVENTS__PER_SECOND": "0",
            "TAILOR_RATE_LIMITS__IDENTIFY_PER_KEY__PER_SECOND": "0",
            "TAILOR_SERVER_API_KEYS": json.dumps([SERVER_KEY]),
            "TAILOR_DEV_MODE": "true",
            "TAILOR_DEV_TOKEN_SECRET": DEV_SECRET,
            "TAILOR_METRICS_TOKEN": METRICS_TOKEN,
        })
        if self.args.database == "postgres":
            env["REDIS_URL"] = self.args.redis
        else:
            env.pop("REDIS_URL", None)
        env.update(extra or {})
        return env

    def start(self, database_url, port=None, extra=None, timeout=600):
        """Starts `tailor serve`; returns (process, base URL, seconds until /readyz)."""
        port = port or self.port
        # Started on every core (start-up parses in parallel, as a real node would), then
        # pinned (`pin`) before any load.
        command = [self.binary, "serve"]
        logfile = open(os.path.join(self.work, f"server-{port}.log"), "ab")
        started = time.monotonic()
        process = subprocess.Popen(command, env=self.env(database_url, port, extra), cwd=REPO,
                                   stdout=logfile, stderr=subprocess.STDOUT)
        self.servers.append(process)
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                sys.exit(f"the server exited ({process.returncode}); see {logfile.name}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        return process, base, time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        sys.exit(f"the server was not ready within {timeout} s")

    def pin(self, process):
        """Moves every thread of a running server to the server CPU (threads it starts
        later inherit it)."""
        if self.pinned and self.args.server_cpu:
            subprocess.run(["taskset", "-a", "-p", "-c", self.args.server_cpu, str(process.pid)],
                           check=True, stdout=subprocess.DEVNULL)

    def stop(self, process):
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        self.servers.remove(process)

    def close(self):
        for process in list(self.servers):
            self.stop(process)
        if self.args.keep:
            log(f"kept {self.work} (server logs, databases)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- wrk -----------------------------------------------------------------------

    def wrk(self, base, script, env=None, duration=None):
        path = os.path.join(self.work, "scenario.lua")
        with open(path, "w") as f:
            f.write(script + DONE_LUA)
        before = responses_by_status(base)
        command = ["wrk", "-t1", f"-c{self.args.connections}",
                   f"-d{duration or self.args.duration}s", "--latency", "-s", path, base]
        if self.pinned and self.args.wrk_cpu:
            command = ["taskset", "-c", self.args.wrk_cpu] + command
        out = subprocess.run(command, env=dict(os.environ, **(env or {})), check=True,
                             capture_output=True, text=True).stdout
        line = next(l for l in out.splitlines() if l.startswith("SUMMARY "))
        raw = json.loads(line[len("SUMMARY "):])
        ok = raw["requests"] - raw["non_2xx"]
        return {
            "requests_per_s": round(raw["requests"] / raw["seconds"], 1),
            "ok_per_s": round(ok / raw["seconds"], 1),
            "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000,
            "requests": raw["requests"],
            "non_2xx": raw["non_2xx"],
            "socket_errors": raw["socket_errors"],
            "seconds": raw["seconds"],
            # What the non-2xx answers were, from the server's own counters.
            "non_2xx_by_route_and_status": {
                key: count - before.get(key, 0)
                for key, count in responses_by_status(base).items()
                if not key.endswith(" 2xx") and count > before.get(key, 0)
            },
        }

    def get_scenario(self, base, path, headers=None):
        lines = "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())
        return self.wrk(base, GET_LUA, {"LOAD_PATH": path, "LOAD_HEADERS": lines})

    def record(self, name, result, unit="req/s", rate=None):
        result["unit"] = unit
        ceiling = self.results.get("ceiling", {}).get("requests_per_s")
        if ceiling and name != "ceiling" and unit == "req/s":
            result["ratio_to_ceiling"] = round(result["ok_per_s"] / ceiling, 3)
        self.results[name] = result
        shown = rate if rate is not None else result["ok_per_s"]
        ratio = f"  ({result['ratio_to_ceiling']:.2f} of ceiling)" if "ratio_to_ceiling" in result else ""
        log(f"{name:<18} {shown:>12,.0f} {unit:<9} p50 {result['p50_ms']:7.2f} ms  "
            f"p99 {result['p99_ms']:7.2f} ms  non-2xx {result['non_2xx']}  "
            f"socket errors {result['socket_errors']}{ratio}")
        for key, count in sorted(result.get("non_2xx_by_route_and_status", {}).items()):
            log(f"{'':<18} {count:>12,} {key}")


def responses_by_status(base):
    """The server's answers so far, `"<route> <status>"` → count (2xx summed as
    `"<route> 2xx"`), from `tailor_http_requests_total` in `/metrics`."""
    request = urllib.request.Request(base + "/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return {}
    counts = {}
    for match in re.finditer(
            r'^tailor_http_requests_total\{route="([^"]*)",status="(\d+)"\} (\d+)', text, re.M):
        route, status, count = match.group(1), match.group(2), int(match.group(3))
        key = f"{route} {'2xx' if status.startswith('2') else status}"
        counts[key] = counts.get(key, 0) + count
    return counts


def tailor_token(run, *args):
    env = dict(os.environ, TAILOR_DEV_MODE="true", TAILOR_DEV_TOKEN_SECRET=DEV_SECRET)
    return subprocess.run([run.binary, "token", *args], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def call(method, url, body=None, headers=None, expect=(200,)):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        sys.exit(f"{method} {url}: {status} {text[:300]}")
    return json.loads(text) if text.strip().startswith(("{", "[")) else text


def rss_mb(process):
    with open(f"/proc/{process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def analyze(database_url):
    """Gathers planner statistics, as autovacuum would after a minute of growth."""
    if database_url.startswith("sqlite://"):
        path = database_url[len("sqlite://"):].split("?")[0]
        sqlite3.connect(path).execute("ANALYZE")
        return
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-c", "ANALYZE"],
                   env=dict(os.environ, PGPASSWORD="postgres"), check=True)


def count_events(run, database_url):
    if run.args.database == "sqlite":
        path = database_url[len("sqlite://"):].split("?")[0]
        return sqlite3.connect(path).execute("select count(*) from events").fetchone()[0]
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    out = subprocess.run(["psql", "-tA", "-h", "127.0.0.1", "-U", "postgres", "-d", name,
                          "-c", "select count(*) from events"],
                         env=dict(os.environ, PGPASSWORD="postgres"), check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip())


# --- the request-path scenarios (one server) ---------------------------------------------

def request_scenarios(run, chosen):
    database_url = run.database("tailor_load")
    server, base, _ = run.start(database_url)
    run.pin(server)
    # Every cache a steady state has: the rendered answers, the catalog, the person.
    call("GET", base + HERO)
    log(f"database {run.args.database}, {'pinned' if run.pinned else 'NOT pinned (no taskset)'}, "
        f"wrk -t1 -c{run.args.connections} -d{run.args.duration}s, 1 server worker")
    run.record("ceiling", run.get_scenario(base, "/healthz"))
    for name in chosen:
        if name == "anonymous-repeat":
            run.record(name, run.get_scenario(base, HERO, {"X-Anonymous-Id": "load-repeat-visitor"}))
        elif name == "anonymous-new":
            run.record(name, run.wrk(base, lua("new_visitor.lua")))
        elif name == "identified":
            call("POST", base + "/v1/identify",
                 {"identifiers": {"customer_id": "load-customer"},
                  "traits": {"first_name": "Ada", "tier": "gold", "points": 1250}},
                 {"X-Api-Key": SERVER_KEY})
            token = tailor_token(run, "--customer", "load-customer")
            path = "/v1/content/home.hero?channel=push&locale=en"
            call("GET", base + path, headers={"Authorization": f"Bearer {token}"})
            run.record(name, run.get_scenario(base, path, {"Authorization": f"Bearer {token}"}))
        elif name == "cohort":
            cohort = call("GET", base + "/v1/context",
                          headers={"X-Anonymous-Id": "load-cohort-visitor"})["cohort"]
            run.record(name, run.get_scenario(base, f"{HERO}&cohort={cohort}"))
        elif name == "batch":
            path = "/v1/content?placements=home.hero,checkout.banner,web.footer_promo&channel=web&locale=en"
            run.record(name, run.get_scenario(base, path, {"X-Anonymous-Id": "load-repeat-visitor"}))
        elif name == "events":
            tracking = call("GET", base + HERO)["tracking_token"]
            result = run.wrk(base, lua("events.lua"), {"TAILOR_TOKEN": tracking})
            acknowledged = (result["requests"] - result["non_2xx"]) * EVENTS_PER_BATCH
            stored = count_events(run, database_url)
            result["events_acknowledged"] = acknowledged
            result["events_stored"] = stored
            result["events_per_s"] = round(acknowledged / result["seconds"])
            run.record(name, result, "events/s", result["events_per_s"])
            if stored < acknowledged:
                sys.exit(f"LOST EVENTS: {acknowledged} acknowledged, {stored} stored")
        elif name == "identify":
            result = run.wrk(base, lua("identify.lua"), {"LOAD_SERVER_KEY": SERVER_KEY})
            run.record(name, result, "calls/s")
        elif name == "identify-analyzed":
            # The same load on a graph the planner has statistics for. On a database
            # created seconds ago none of the identity tables has been analyzed yet, and
            # PostgreSQL guesses a group's "rows of these 32 people" at 5 % of the table
            # and scans it whole; autovacuum analyzes a growing table within a minute.
            run.wrk(base, lua("identify.lua"), {"LOAD_SERVER_KEY": SERVER_KEY}, duration=5)
            analyze(database_url)
            result = run.wrk(base, lua("identify.lua"), {"LOAD_SERVER_KEY": SERVER_KEY})
            run.record(name, result, "calls/s")


# --- publish on a large catalog (two nodes) -------------------------------------------------

def timed(command, env):
    started = time.monotonic()
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    return time.monotonic() - started, out


def max_rss_of(command, env):
    """Runs under GNU time when present: (seconds, peak RSS in MB or None, result)."""
    if os.path.exists("/usr/bin/time"):
        started = time.monotonic()
        out = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *command], env=env,
                             capture_output=True, text=True)
        seconds = time.monotonic() - started
        found = re.search(r"MAXRSS (\d+)", out.stderr)
        return seconds, (round(int(found.group(1)) / 1024, 1) if found else None), out
    seconds, out = timed(command, env)
    return seconds, None, out


def until_served(base, path, text, limit=10.0):
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                if text in response.read().decode():
                    return time.monotonic() - started
        except urllib.error.URLError:
            pass
        time.sleep(0.005)
    return None


def publish(url, tokens, saved):
    """Submit, approve and publish the version just saved at `url`, each by its role;
    returns how long the publish call took."""
    version = (saved.get("latest") or saved)["version"]
    for role, action in [("marketer", "submit"), ("reviewer", "approve")]:
        call("POST", f"{url}/{action}", {"version": version},
             {"Authorization": f"Bearer {tokens[role]}"})
    started = time.monotonic()
    call("POST", f"{url}/publish", {"version": version},
         {"Authorization": f"Bearer {tokens['publisher']}"})
    return time.monotonic() - started


def publish_variant(base, tokens, variant_id, title_message):
    """A new version of the variant without a rule and above every other: the one served."""
    url = f"{base}/v1/admin/variants/{variant_id}"
    saved = call("PUT", url, {"priority": 100, "fields": {
        "title": {"message": title_message}, "body": {"message": f"{variant_id}-body"}}},
        {"Authorization": f"Bearer {tokens['marketer']}"}, expect=(200, 201))
    return publish(url, tokens, saved)


def publish_fluent(base, tokens, locale, file, source):
    url = f"{base}/v1/admin/locales/{locale}/{file}"
    request = urllib.request.Request(url, data=source.encode(), method="PUT", headers={
        "Authorization": f"Bearer {tokens['marketer']}",
        "Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            saved = json.loads(response.read().decode())
    except urllib.error.HTTPError as e:
        sys.exit(f"PUT {url}: {e.code} {e.read().decode()[:300]}")
    return publish(url, tokens, saved)


def large_catalog(run):
    args = run.args
    out_dir = os.path.join(run.work, "catalog")
    subprocess.run([sys.executable, os.path.join(REPO, "loadtests", "large_catalog.py"),
                    "--placements", str(args.placements), "--variants", str(args.variants),
                    "--locales", str(args.locales), "--out", out_dir], check=True)
    size_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_dir) for f in fs) / 2**20
    content = {"TAILOR_CONTENT_DIR": os.path.join(out_dir, "content"),
               "TAILOR_LOCALES_DIR": os.path.join(out_dir, "locales")}
    summary = {"placements": args.placements, "variants": args.placements * args.variants,
               "locales": args.locales, "files_mb": round(size_mb, 1)}
    log(f"large catalog: {summary['placements']} placements, {summary['variants']} variants, "
        f"{args.locales} locales, {size_mb:.0f} MB of files")

    env = dict(os.environ, **content)
    env.pop("DATABASE_URL", None)
    seconds, peak, out = max_rss_of([run.binary, "validate"], env)
    if out.returncode != 0:
        sys.exit(f"tailor validate failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    summary["validate_s"] = round(seconds, 2)
    summary["validate_peak_rss_mb"] = peak
    log(f"  tailor validate              {seconds:8.2f} s   peak RSS {peak} MB")

    database_url = run.database("tailor_large")
    node, base, first = run.start(database_url, extra=content)
    summary["first_start_s"] = round(first, 2)
    log(f"  first start (import)         {first:8.2f} s   RSS {rss_mb(node)} MB")
    run.stop(node)
    node, base, again = run.start(database_url, extra=content)
    summary["restart_s"] = round(again, 2)
    log(f"  restart, nothing changed     {again:8.2f} s")

    run.pin(node)
    placement = "scale.p0000"
    path = f"/v1/content/{placement}?channel=web&locale=en"
    call("GET", base + path)
    result = run.get_scenario(base, path, {"X-Anonymous-Id": "load-repeat-visitor"})
    summary["serving"] = result
    summary["serving_rss_mb"] = rss_mb(node)
    log(f"  serving {placement:<20} {result['ok_per_s']:8,.0f} req/s  p99 {result['p99_ms']:.2f} ms  "
        f"RSS {summary['serving_rss_mb']} MB")

    # A second node on the same database (and Redis, on PostgreSQL): how long after a
    # publish on the first it serves the change.
    other, other_base, _ = run.start(database_url, port=run.port + 1, extra=content)
    run.pin(other)
    tokens = {role: tailor_token(run, "--role", role, "--subject", f"load-{role}")
              for role in ["marketer", "reviewer", "publisher"]}
    variant = "scale-p0000-v00"
    lags, calls = [], []
    for n in range(args.rounds):
        # Alternate the title between two messages the variant's placement already has.
        message = "scale-p0000-v01-title" if n % 2 == 0 else "scale-p0000-v00-title"
        expect = "Offer 1 of placement 0 [en]" if n % 2 == 0 else "Offer 0 of placement 0 [en]"
        calls.append(publish_variant(base, tokens, variant, message))
        lags.append(until_served(other_base, path, expect))
    report_publishes(summary, "variant", "one variant", calls, lags)

    # One Fluent resource: the variant's own messages, in English.
    with open(os.path.join(out_dir, "locales", "en", "scale-p0000.ftl")) as f:
        original = f.read()
    ftl_lags, ftl_calls = [], []
    for n in range(args.rounds):
        word = f"edition-{n}-"
        # Every variant's body says this in its anonymous form: whichever is served shows it.
        source = original.replace("See what placement 0 holds", f"See what placement 0 ({word}) holds")
        ftl_calls.append(publish_fluent(base, tokens, "en", "scale-p0000.ftl", source))
        ftl_lags.append(until_served(other_base, path, word))
    report_publishes(summary, "fluent", "one Fluent file", ftl_calls, ftl_lags)

    previews = []
    for _ in range(args.rounds):
        started = time.monotonic()
        call("POST", base + "/v1/admin/preview",
             {"placement": placement, "channel": "web", "locales": ["fr", "de", "ja"],
              "traits": {"tier": "gold", "points": 120}, "include_unpublished": True},
             {"Authorization": f"Bearer {tokens['marketer']}"})
        previews.append(time.monotonic() - started)
    summary["preview_ms"] = stats_ms(previews)
    summary["rss_after_publishes_mb"] = rss_mb(node)
    log(f"  preview (3 locales)          {fmt_stats(summary['preview_ms'])}")
    log(f"  RSS after the publishes      {summary['rss_after_publishes_mb']} MB")
    run.results["publish-on-large-catalog"] = summary


def report_publishes(summary, kind, what, calls, lags):
    """The publish calls' times and how long after each the other node served the
    change (None: it never did within the limit), into `summary` and printed."""
    summary[f"publish_{kind}_call_ms"] = stats_ms(calls)
    summary[f"publish_{kind}_live_elsewhere_ms"] = stats_ms([l for l in lags if l is not None])
    summary[f"publish_{kind}_never_live"] = sum(1 for l in lags if l is None)
    log(f"  {'publish ' + what + ' (call)':<28} {fmt_stats(summary[f'publish_{kind}_call_ms'])}")
    log(f"  ... live on the other node   {fmt_stats(summary[f'publish_{kind}_live_elsewhere_ms'])}"
        f"   never: {summary[f'publish_{kind}_never_live']}")


def stats_ms(seconds):
    if not seconds:
        return {}
    ordered = sorted(s * 1000 for s in seconds)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)
    return {"p50": pick(0.5), "p95": pick(0.95), "max": round(ordered[-1], 1), "n": len(ordered)}


def fmt_stats(s):
    return f"p50 {s.get('p50', '-')} ms  p95 {s.get('p95', '-')} ms  max {s.get('max', '-')} ms" if s else "none"


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help="default: all of them")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    parser.add_argument("--pg-params", default="",
                        help="query string for the PostgreSQL URL, e.g. sslmode=disable")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-bin", help="a built server instead of a fresh release build")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--wrk-cpu", default="1")
    parser.add_argument("--unpinned", action="store_true")
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--placements", type=int, default=500)
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--locales", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10, help="publishes and previews on the large catalog")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs)")
    parser.add_argument("--json", help="summary file (default loadtests/results-<database>.json)")
    args = parser.parse_args()
    chosen = args.scenarios or SCENARIOS
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {SCENARIOS}")
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    run = Run(args)
    try:
        request_paths = [s for s in chosen if s not in ("ceiling", "publish-on-large-catalog")]
        if request_paths or "ceiling" in chosen:
            request_scenarios(run, request_paths)
        if "publish-on-large-catalog" in chosen:
            for process in list(run.servers):
                run.stop(process)
            large_catalog(run)
    finally:
        run.close()
    summary = {
        "at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                 capture_output=True, text=True).stdout.strip(),
        "machine": machine(),
        "database": args.database + (" + redis" if args.database == "postgres" else ""),
        "pinned": run.pinned,
        "wrk": f"-t1 -c{args.connections} -d{args.duration}s",
        "server_workers": 1,
        "scenarios": run.results,
    }
    path = args.json or os.path.join(REPO, "loadtests", f"results-{args.database}.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    log(f"summary written to {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
