#!/usr/bin/env python3
"""Multi-node topology test: three Tailor nodes on one PostgreSQL database and one Redis,
behind nginx with the shared cache of deploy/nginx/tailor.conf and the purge receiver of
deploy/nginx/purge_receiver.py. Black box: HTTP, the database through psql, the logs.

    SERVER_BIN=target/debug/tailor python3 tests/topology/run.py

Checks (each a named step; see tests/topology/README.md):
  a  a publish on node 1 reaches every node, and nginx's copy is purged (not expired)
  b  the same event batch posted to every node (and through nginx) is stored once
  c  one evaluator acts per period, however many nodes evaluate
  e  the cache never hands one person's content to another; coarse answers are hits
  d  stopping a node (SIGTERM, then SIGKILL) loses no acknowledged event

Needs: python3 (stdlib only), nginx, redis-server, redis-cli, psql, and a PostgreSQL
server at PGHOST:PGPORT (127.0.0.1:5432, user postgres, password postgres by default)
where it may create and drop a database. Uses ports 17000-17999 (TOPOLOGY_PORTS=lo-hi).
Exits 0 when every check passed, 1 with the failing step's message otherwise.
"""

import concurrent.futures
import http.client as httpclient
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV_SECRET = "topology-dev-token-secret-0123456789abcdef"
SERVER_KEY = "topology-server-key-0123456789abcdef"
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("PGPORT", "5432")
PG_USER = os.environ.get("PGUSER", "postgres")
PG_PASSWORD = os.environ.get("PGPASSWORD", "postgres")
RUN = f"t{os.getpid()}{random.randrange(16**4):04x}"  # prefix of every id this run makes
T0 = time.monotonic()


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


# ---------------------------------------------------------------------------- HTTP

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def cache(self):
        return self.headers.get("X-Cache-Status", "-")


def http(method, url, headers=None, body=None, timeout=10):
    """One request; HTTP error statuses are answers, transport failures raise OSError."""
    headers = {"User-Agent": BROWSER, **(headers or {})}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as r:
            return Answer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())
    except urllib.error.URLError as e:
        raise OSError(str(e.reason)) from e
    except httpclient.HTTPException as e:
        raise OSError(f"{type(e).__name__}: {e}") from e


def wait_until(what, probe, deadline_s, every=0.05):
    """Polls `probe` until it returns something truthy; fails after `deadline_s`."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            result = probe()
            if result:
                return result
        except OSError as e:
            last = e
        time.sleep(every)
    raise Failure(f"{what}: not within {deadline_s} s" + (f" (last error: {last})" if last else ""))


def free_ports(count):
    low, high = (int(p) for p in os.environ.get("TOPOLOGY_PORTS", "17000-17999").split("-"))
    candidates = list(range(low, high + 1))
    random.shuffle(candidates)
    ports = []
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise Failure(f"fewer than {count} free ports in {low}-{high}")


# ---------------------------------------------------------------------- processes


def psql(sql, database):
    result = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", database,
         "-v", "ON_ERROR_STOP=1", "-tAq", "-c", sql],
        env={**os.environ, "PGPASSWORD": PG_PASSWORD},
        capture_output=True, text=True, timeout=60,
    )
    if result.returncode != 0:
        raise Failure(f"psql failed ({sql[:80]}...): {result.stderr.strip()}")
    return [line.split("|") for line in result.stdout.splitlines() if line]


class Node:
    """One `tailor serve` in its own working directory."""

    def __init__(self, name, binary, port, env, root):
        self.name, self.binary, self.port = name, binary, port
        self.url = f"http://127.0.0.1:{port}"
        self.dir = root / name
        self.dir.mkdir()
        self.log_path = self.dir / "tailor.log"
        self.env = {**env, "TAILOR_BIND": f"127.0.0.1:{port}"}
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve"], cwd=self.dir, env=self.env,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log_file.close()

    def ready(self):
        if self.proc.poll() is not None:
            raise Failure(f"{self.name} exited with {self.proc.returncode}; log: {self.log_path}\n"
                          + tail(self.log_path))
        try:
            answer = http("GET", self.url + "/readyz", timeout=2)
        except OSError:
            return False
        return answer.status == 200 and answer.json().get("status") == "ready"

    def wait_ready(self, deadline_s=90):
        wait_until(f"{self.name} ready at {self.url}/readyz", self.ready, deadline_s, every=0.1)

    def log_lines(self, start=0):
        """JSON log lines from byte offset `start`."""
        with open(self.log_path, "rb") as f:
            f.seek(start)
            data = f.read()
        lines = []
        for raw in data.splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pass
        return lines

    def log_size(self):
        return self.log_path.stat().st_size


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc, sig=signal.SIGTERM, timeout=15):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


class Topology:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = root
        self.procs = []
        self.nodes = []
        self.database = None
        (self.redis_port, self.purge_port, self.nginx_port, *node_ports) = free_ports(6)
        self.node_ports = node_ports
        self.nginx = f"http://127.0.0.1:{self.nginx_port}"
        self.receiver = f"http://127.0.0.1:{self.purge_port}"
        self.cache_dir = root / "nginx" / "cache"
        self.max_age = 60

    # -- start everything
    def start(self):
        self.start_redis()
        self.create_database()
        env = self.node_env()
        # Tailor may send the purge webhook a shared secret (`purge_webhook_secret`, as
        # `Authorization: Bearer`); use it when this binary knows the setting (it refuses
        # unknown settings, so a `tailor token` with it set tells).
        secret = "topology-purge-secret-" + RUN
        probe = subprocess.run([self.binary, "token", "--role", "marketer"], cwd=self.root,
                               env={**env, "TAILOR_PURGE_WEBHOOK_SECRET": secret},
                               capture_output=True, text=True, timeout=30)
        self.purge_secret = secret if probe.returncode == 0 else None
        if self.purge_secret:
            env["TAILOR_PURGE_WEBHOOK_SECRET"] = secret
        self.env = env
        self.start_purge_receiver()
        for i, port in enumerate(self.node_ports, start=1):
            self.nodes.append(Node(f"node{i}", self.binary, port, env, self.root))
        started = time.monotonic()
        for node in self.nodes:  # together: they race to migrate and import one database
            node.start()
        for node in self.nodes:
            node.wait_ready()
        self.node_start_s = time.monotonic() - started
        log(f"3 nodes ready in {self.node_start_s:.1f} s (started together on a new database)")
        self.start_nginx()

    def start_redis(self):
        redis_dir = self.root / "redis"
        redis_dir.mkdir()
        out = open(redis_dir / "redis.log", "wb")
        proc = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(redis_dir)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        self.procs.append(proc)

        def pong():
            if proc.poll() is not None:
                raise Failure(f"redis-server exited: {tail(redis_dir / 'redis.log')}")
            r = subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"],
                               capture_output=True, text=True)
            return r.stdout.strip() == "PONG"

        wait_until("redis-server answers PING", pong, 15, every=0.1)

    def create_database(self):
        name = f"tailor_topology_{os.getpid()}_{random.randrange(10**6)}"
        psql(f'CREATE DATABASE "{name}"', "postgres")
        self.database = name

    def drop_database(self):
        if self.database:
            try:
                psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)', "postgres")
            except Failure as e:
                print(f"warning: could not drop {self.database}: {e}", file=sys.stderr)

    def start_purge_receiver(self):
        self.cache_dir.mkdir(parents=True)
        self.receiver_log = self.root / "purge_receiver.log"
        out = open(self.receiver_log, "wb")
        receiver_env = {k: v for k, v in os.environ.items() if k != "PURGE_SECRET"}
        if self.purge_secret:
            receiver_env["PURGE_SECRET"] = self.purge_secret
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "deploy/nginx/purge_receiver.py"),
             "--listen", f"127.0.0.1:{self.purge_port}", "--cache-dir", str(self.cache_dir)],
            env=receiver_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        self.procs.append(proc)

        def up():
            if proc.poll() is not None:
                raise Failure(f"purge receiver exited: {tail(self.receiver_log)}")
            try:
                return http("GET", self.receiver + "/", timeout=1).status == 200
            except OSError:
                return False

        wait_until("purge receiver up", up, 15)

    def node_env(self):
        # Nothing from the caller's environment that the service would read: it refuses
        # unknown TAILOR_* variables, and a stray DATABASE_URL would point elsewhere.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TAILOR_") and k not in ("DATABASE_URL", "REDIS_URL", "RUST_LOG")}
        env.update({
            "DATABASE_URL": f"postgres://{PG_USER}:{PG_PASSWORD}@{PG_HOST}:{PG_PORT}/{self.database}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
            "TAILOR_CONTENT_DIR": str(REPO / "content"),
            "TAILOR_LOCALES_DIR": str(REPO / "locales"),
            "TAILOR_DEV_MODE": "true",
            "TAILOR_DEV_TOKEN_SECRET": DEV_SECRET,
            "TAILOR_SERVER_API_KEYS": json.dumps([SERVER_KEY]),
            "TAILOR_PURGE_WEBHOOK_URL": f"{self.receiver}/purge",
            "TAILOR_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "TAILOR_PUBLIC_URL": self.nginx,
            "TAILOR_GOVERNANCE_EVALUATE_SECS": "1",
            "TAILOR_WORKERS": "1",
            "TAILOR_LOG_FORMAT": "json",
            "TAILOR_SHUTDOWN_TIMEOUT_SECS": "10",
        })
        return env

    def start_nginx(self):
        prefix = self.root / "nginx"
        for d in ("logs", "temp/client", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        snippet = (REPO / "deploy/nginx/tailor.conf").read_text()
        upstream = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=5s;\n"
                           for p in self.node_ports)
        replacements = [
            (r"proxy_cache_path /var/cache/nginx/tailor ", f"proxy_cache_path {self.cache_dir} "),
            (r"(?m)^(    server 127\.0\.0\.1:\d+ max_fails=3 fail_timeout=5s;\n)+", upstream),
            (r"(?m)^    listen 8000;", f"    listen 127.0.0.1:{self.nginx_port};"),
        ]
        for pattern, replacement in replacements:
            snippet, n = re.subn(pattern, lambda _m, r=replacement: r, snippet, count=1)
            check(n == 1, f"deploy/nginx/tailor.conf no longer has `{pattern}` for the test to replace")
        (prefix / "tailor.conf").write_text(snippet)
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/logs/error.log info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"  access_log {prefix}/logs/access.log;\n"
            f"  client_body_temp_path {prefix}/temp/client;\n"
            f"  proxy_temp_path {prefix}/temp/proxy;\n"
            f"  fastcgi_temp_path {prefix}/temp/fastcgi;\n"
            f"  uwsgi_temp_path {prefix}/temp/uwsgi;\n"
            f"  scgi_temp_path {prefix}/temp/scgi;\n"
            f"  include {prefix}/tailor.conf;\n"
            "}\n"
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        base = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "logs/error.log")]
        test = subprocess.run(base + ["-t"], capture_output=True, text=True)
        check(test.returncode == 0, f"nginx -t refused the configuration:\n{test.stderr}")
        out = open(prefix / "logs/stderr.log", "wb")
        proc = subprocess.Popen(base, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.nginx_proc = proc
        self.procs.append(proc)

        def up():
            if proc.poll() is not None:
                raise Failure(f"nginx exited: {tail(prefix / 'logs/error.log')}")
            try:
                return http("GET", self.nginx + "/healthz", timeout=1).status == 200
            except OSError:
                return False

        wait_until("nginx proxies /healthz", up, 15)
        log(f"nginx on {self.nginx}, cache {self.cache_dir}")

    def stop_all(self):
        for node in self.nodes:
            stop(node.proc)
        for proc in reversed(self.procs):
            stop(proc, signal.SIGTERM if proc is not getattr(self, "nginx_proc", None) else signal.SIGQUIT)

    # -- helpers
    def token(self, *args):
        result = subprocess.run([self.binary, "token", *args], cwd=self.root, env=self.env,
                                capture_output=True, text=True, timeout=30)
        check(result.returncode == 0, f"tailor token {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def staff(self, role, subject):
        return {"Authorization": "Bearer " + self.token("--role", role, "--subject", subject)}

    def receiver_totals(self):
        return http("GET", self.receiver + "/").json()

    def purges_logged(self):
        return [line for line in self.receiver_log.read_text().splitlines() if " purge keys=" in line]


# ---------------------------------------------------------------------------- steps

CHECKOUT = "/v1/content/checkout.banner?channel=web&device=desktop&locale=en"
CHECKOUT_MOBILE = "/v1/content/checkout.banner?channel=web&device=mobile&locale=en"


def step_a(t, summary):
    """A Fluent publish on node 1: every node serves it, nginx's copy is purged."""
    # Prime nginx: a miss, then a hit.
    first = http("GET", t.nginx + CHECKOUT)
    check(first.status == 200, f"GET {CHECKOUT} through nginx: {first.status} {first.text[:200]}")
    primed_at = time.monotonic()
    second = http("GET", t.nginx + CHECKOUT)
    check((first.cache, second.cache) == ("MISS", "HIT"),
          f"priming nginx: X-Cache-Status {first.cache} then {second.cache}, expected MISS then HIT "
          f"(Cache-Control: {first.headers.get('Cache-Control')}, Vary: {first.headers.get('Vary')})")
    old_title = first.json()["fields"]["title"]
    files_before = cache_files(t.cache_dir)

    marketer = t.staff("marketer", "topology-marketer")
    reviewer = t.staff("reviewer", "topology-reviewer")
    publisher = t.staff("publisher", "topology-publisher")
    n1 = t.nodes[0].url
    path = "/v1/admin/locales/en/checkout.ftl"
    current = http("GET", n1 + path, headers=marketer)
    check(current.status == 200, f"GET {path}: {current.status} {current.text[:300]}")
    marker = f"[{RUN}]"
    source = current.text
    check(old_title in source, f"the answer's title {old_title!r} is not in {path}")
    new_title = f"{old_title} {marker}"
    edited = source.replace(f"= {old_title}\n", f"= {new_title}\n", 1)
    check(edited != source, f"could not find `= {old_title}` in {path}")
    saved = http("PUT", n1 + path, body=edited,
                 headers={**marketer, "Content-Type": "text/plain; charset=utf-8",
                          "If-Match": current.headers.get("ETag", "")})
    check(saved.status in (200, 201), f"PUT {path}: {saved.status} {saved.text[:300]}")
    version = saved.json()["version"]
    for action, who in (("submit", marketer), ("approve", reviewer)):
        r = http("POST", f"{n1}{path}/{action}", body={"version": version}, headers=who)
        check(r.status == 200, f"POST {path}/{action}: {r.status} {r.text[:300]}")
    totals_before = t.receiver_totals()

    # Pollers start before the publish, so the first poll after the answer is immediate.
    seen = {}
    old_misses = []  # nginx fetched the old text from a node after the publish answered
    published = threading.Event()
    answered_at = [0.0]
    stop_polling = threading.Event()

    def poll(name, base):
        while not stop_polling.is_set():
            if not published.is_set():
                time.sleep(0.002)
                continue
            try:
                r = http("GET", base + CHECKOUT, timeout=5)
            except OSError:
                time.sleep(0.01)
                continue
            if r.status == 200 and marker in r.json()["fields"].get("title", ""):
                seen[name] = (time.monotonic() - answered_at[0], r.cache)
                return
            if name == "nginx" and r.cache == "MISS":
                old_misses.append(round(time.monotonic() - answered_at[0], 3))
            time.sleep(0.005 if name != "nginx" else 0.02)

    targets = [(n.name, n.url) for n in t.nodes] + [("nginx", t.nginx)]
    threads = [threading.Thread(target=poll, args=target, daemon=True) for target in targets]
    for th in threads:
        th.start()
    started = time.monotonic()
    r = http("POST", f"{n1}{path}/publish", body={"version": version}, headers=publisher, timeout=30)
    answered_at[0] = time.monotonic()
    publish_call_s = answered_at[0] - started
    published.set()
    check(r.status == 200, f"POST {path}/publish: {r.status} {r.text[:300]}")
    purged = r.json().get("purged", [])
    deadline = time.monotonic() + 10
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()))
    stop_polling.set()
    missing = [name for name, _ in targets if name not in seen]
    check(not missing, f"not serving the published text within 10 s of the publish answer: {missing}")

    nginx_s, nginx_status = seen["nginx"]
    check(time.monotonic() - primed_at < t.max_age,
          "the run took longer than max-age: cannot tell a purge from an expiry")
    # Purged, not expired: the new text came as a fresh fetch well before the primed copy's
    # max-age ran out, and the receiver deleted cache files for these keys.
    check(nginx_status in ("MISS", "HIT"), f"nginx served the new text as {nginx_status}")
    totals_after = wait_until("the purge receiver deleted a cache file",
                              lambda: (lambda tt: tt if tt["deleted"] > totals_before["deleted"] else None)(
                                  t.receiver_totals()), 5)
    purge_lines = t.purges_logged()
    check(any("placement/checkout.banner" in line.split(" purge keys=")[1].split(" reason=")[0].split()
              for line in purge_lines),
          f"no purge named placement/checkout.banner: {purge_lines}")
    check("placement/checkout.banner" in purged, f"publish answered purged={purged}")
    # Tailor sends every purge twice (the second when every node surely has the change).
    wait_until("Tailor's second purge round", lambda: t.receiver_totals()["purges"] >= totals_before["purges"] + 2, 6)
    final = http("GET", t.nginx + CHECKOUT)
    check(marker in final.json()["fields"]["title"], "nginx went back to the old text after the purges")
    if t.purge_secret:
        forged = http("POST", t.receiver + "/purge", body={"surrogate_keys": ["placement/checkout.banner"]})
        check(forged.status == 401, f"the purge receiver took a purge without the secret: {forged.status}")

    per_node = {name: seen[name][0] for name, _ in targets if name != "nginx"}
    summary["a"] = {
        "publish_call_s": round(publish_call_s, 3),
        "served_after_answer_s": {k: round(v, 3) for k, v in per_node.items()},
        "last_node_s": round(max(per_node.values()), 3),
        "nginx_new_text_after_answer_s": round(nginx_s, 3),
        "nginx_first_new_status": nginx_status,
        # Misses after the publish answered that still brought the old text: the first
        # purge came before that node had reloaded, and nginx stored the old copy again
        # until Tailor's second purge round.
        "nginx_old_text_refetched_at_s": old_misses,
        "purge_keys": purged,
        "purge_secret": "sent by Tailor and required" if t.purge_secret else "not supported by this binary",
        "purges_received": t.receiver_totals()["purges"] - totals_before["purges"],
        "cache_files_deleted": totals_after["deleted"] - totals_before["deleted"],
        "cache_files_when_primed": files_before,
    }
    log("a: publish → " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in per_node.items())
        + f"; nginx {nginx_s * 1000:.0f} ms ({nginx_status}"
        + (f", after re-fetching the old text from a node at {old_misses} s" if old_misses else "")
        + f"); call {publish_call_s * 1000:.0f} ms")


def cache_files(directory):
    return sum(1 for _root, _dirs, files in os.walk(directory) for f in files
               if re.fullmatch(r"[0-9a-f]{32}", f))


def content_token(t, path, node=0):
    r = http("GET", t.nodes[node].url + path)
    check(r.status == 200, f"GET {path}: {r.status} {r.text[:200]}")
    return r.json()


def step_b(t, summary):
    """The same batch posted to every node at once, and through nginx: stored once."""
    answer = content_token(t, CHECKOUT)
    kinds = ["impression", "view", "click", "dismiss"]
    ids = [f"{RUN}-b-{i}" for i in range(40)]
    batch = {"events": [{"event_id": eid, "type": kinds[i % len(kinds)],
                         "tracking_token": answer["tracking_token"],
                         "anonymous_id": f"visitor-{RUN}-{i % 7}"} for i, eid in enumerate(ids)]}
    targets = [n.url for n in t.nodes] + [t.nginx]
    barrier = threading.Barrier(len(targets))

    def post(base):
        barrier.wait()
        return http("POST", base + "/v1/events", body=batch, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(post, targets))
    for base, r in zip(targets, answers):
        check(r.status == 202, f"POST {base}/v1/events: {r.status} {r.text[:300]}")
        check(not r.json()["rejected"], f"{base} rejected events: {r.json()['rejected'][:3]}")
    accepted = sum(r.json()["accepted"] for r in answers)
    duplicates = sum(r.json()["duplicates"] for r in answers)
    # Once more, one after the other: all duplicates everywhere.
    again = [http("POST", base + "/v1/events", body=batch).json() for base in targets]
    rows = psql(f"SELECT event_id, count(*) FROM events WHERE event_id LIKE '{RUN}-b-%' "
                "GROUP BY event_id", t.database)
    counts = {eid: int(n) for eid, n in rows}
    missing = [eid for eid in ids if eid not in counts]
    doubled = {eid: n for eid, n in counts.items() if n != 1}
    check(not missing, f"events acknowledged but not stored: {missing[:5]}")
    check(not doubled, f"events stored more than once: {doubled}")
    check(accepted == len(ids),
          f"the nodes answered accepted={accepted} in total for {len(ids)} distinct events "
          f"(duplicates={duplicates}): each event must be counted accepted by exactly one node")
    check(all(a["accepted"] == 0 and a["duplicates"] == len(ids) for a in again),
          f"a repeat was not all duplicates: {again}")
    summary["b"] = {"events": len(ids), "posts": len(targets) + len(targets),
                    "accepted_total": accepted, "duplicates_total": duplicates,
                    "rows_per_event": sorted(set(counts.values()))}
    log(f"b: {len(ids)} events × {len(targets)} concurrent posts: accepted {accepted}, "
        f"duplicates {duplicates}; every id stored once")


def step_c(t, summary):
    """Every node evaluates each second; a policy that fires acts once."""
    mobile = content_token(t, CHECKOUT_MOBILE)
    variant = mobile["variant"]["id"]
    check(variant == "checkout-banner-mobile", f"{CHECKOUT_MOBILE} answered variant {variant}")
    # The answer nginx holds, to see what a retirement does to the edge.
    primed = [http("GET", t.nginx + CHECKOUT_MOBILE).cache for _ in range(2)]
    offsets = [n.log_size() for n in t.nodes]

    # Evidence the variant-opt-outs guardrail (auto, 1 failure, > 1 %) acts on: 1,320
    # impressions and 132 opt-outs (10 %) from 60 client networks behind nginx (Tailor
    # trusts it and reads X-Forwarded-For), so the evidence gate (50 sources, none above
    # 5 %) passes. Every batch has the same mix, so any part of the flood that an
    # evaluation sees fails too, or is too small to judge: none is judged a pass.
    def flood(i):
        events = [{"event_id": f"{RUN}-c-{i}-{j}", "type": "opt_out" if j < 2 else "impression",
                   "tracking_token": mobile["tracking_token"],
                   "anonymous_id": f"shopper-{RUN}-{i}-{j}"} for j in range(22)]
        r = http("POST", t.nginx + "/v1/events", body={"events": events},
                 headers={"X-Forwarded-For": f"10.77.{i}.9"}, timeout=30)
        check(r.status == 202 and r.json()["accepted"] == 22,
              f"flood batch {i} through nginx: {r.status} {r.text[:300]}")

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(flood, range(60)))
    flooded_at = time.monotonic()
    log("c: flood stored (1,320 impressions, 132 opt-outs, 60 networks); nodes evaluating every second")

    # Meanwhile, ask every node to evaluate at the same moment, twice: the lease decides.
    governance = t.staff("governance", "topology-governance")
    barrier = threading.Barrier(6)

    def evaluate(base):
        barrier.wait()
        return http("POST", base + "/v1/governance/evaluations", headers=governance, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        api = list(pool.map(evaluate, [n.url for n in t.nodes] * 2))
    for r in api:
        check(r.status == 200, f"POST /v1/governance/evaluations: {r.status} {r.text[:300]}")
    api_reports = [r.json() for r in api]

    def decided():
        rows = psql("SELECT id, period, scope, target, policy_id, action, status, proposed_by "
                    f"FROM governance_decisions WHERE target = '{variant}'", t.database)
        return rows or None

    rows = wait_until(f"a governance decision about {variant}", decided, 15, every=0.2)
    decided_after = time.monotonic() - flooded_at
    # Let every node run at least two more evaluations after the decision exists.
    after = [n.log_size() for n in t.nodes]

    def evaluations_since(node, offset):
        return [line for line in node.log_lines(offset) if line.get("message") == "governance evaluation"]

    wait_until("two more evaluations on every node",
               lambda: all(len(evaluations_since(n, o)) >= 2 for n, o in zip(t.nodes, after)), 15, every=0.2)

    duplicates = psql("SELECT period, scope, target, policy_id, action, count(*) FROM governance_decisions "
                      "GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1", t.database)
    check(not duplicates, f"decisions recorded twice for one (period, scope, target, policy, action): {duplicates}")
    check(len(rows) == 1, f"{len(rows)} decisions about {variant}: {rows}")
    _id, period, scope, target, policy, action, status, by = rows[0]

    # Who acted: scheduled runs (the logs) and the API calls (their reports).
    runs = {n.name: evaluations_since(n, o) for n, o in zip(t.nodes, offsets)}
    acted = [(name, line.get("period"), line.get("actions")) for name, lines in runs.items()
             for line in lines if (line.get("actions") or 0) > 0]
    api_acted = [rep for rep in api_reports if rep.get("actions")]
    skipped = sum(1 for lines in runs.values() for line in lines if line.get("skipped") is True)
    api_skipped = sum(1 for rep in api_reports if rep.get("skipped"))
    actors = len(acted) + len(api_acted)
    check(actors == 1, f"{actors} evaluation runs acted in period {period} (want 1): "
                       f"scheduled {acted}, API {[(r['period'], r['actions']) for r in api_acted]}")
    # What the retirement did to serving: every node stops serving it, at once.
    for node in t.nodes:
        wait_until(f"{node.name} stops serving the retired {variant}",
                   lambda node=node: http("GET", node.url + CHECKOUT_MOBILE).json()["variant"]["id"] != variant, 5)
    # And the edge: the retirement purges variant/<id>, so nginx stops serving it too.
    try:
        edge = wait_until(
            f"nginx stops serving the retired {variant}",
            lambda: (lambda r: r if r.status == 200 and r.json()["variant"]["id"] != variant else None)(
                http("GET", t.nginx + CHECKOUT_MOBILE)), 5, every=0.1)
    except Failure:
        edge = http("GET", t.nginx + CHECKOUT_MOBILE)
        raise Failure(f"nginx still serves the retired {variant} ({edge.cache}) 5 s after the retirement: "
                      f"no purge of variant/{variant} reached the receiver "
                      f"(purges received: {[line.split(' purge ', 1)[1] for line in t.purges_logged()]})")
    edge_variant = edge.json()["variant"]["id"]
    summary["c"] = {
        "decision": {"period": period, "scope": scope, "target": target, "policy": policy,
                     "action": action, "status": status, "by": by},
        "decided_after_flood_s": round(decided_after, 2),
        "scheduled_runs": {k: len(v) for k, v in runs.items()},
        "scheduled_runs_skipped_by_lease": skipped,
        "api_runs": len(api_reports), "api_runs_skipped_by_lease": api_skipped,
        "runs_that_acted": actors,
        "acted_by": "api" if api_acted else acted[0][0],
        "nginx_after_retirement": {"primed": primed, "status": edge.cache, "variant": edge_variant},
    }
    log(f"c: one decision ({action}/{status} of {target} by {policy}, period {period}) "
        f"{decided_after:.1f} s after the flood; runs: {summary['c']['scheduled_runs']} scheduled "
        f"({skipped} skipped by the lease), {len(api_reports)} by API ({api_skipped} skipped); acted: 1")


def step_e(t, summary):
    """Through nginx: two identified people, anonymous visitors and cohort URLs."""
    key = {"X-Api-Key": SERVER_KEY}
    # Names no demo text contains, so finding one in an answer means it was rendered.
    people = {"A": (f"Ada-{RUN}", f"C-{RUN}-A"), "B": (f"Grace-{RUN}", f"C-{RUN}-B")}
    for label, (name, customer) in people.items():
        r = http("POST", t.nodes[0].url + "/v1/identify", headers=key, body={
            "identifiers": {"customer_id": customer},
            "traits": {"first_name": name, "tier": "gold", "points": 1250 if label == "A" else 7}})
        check(r.status == 200, f"POST /v1/identify: {r.status} {r.text[:300]}")
    bearer = {label: {"Authorization": "Bearer " + t.token("--customer", customer)}
              for label, (_name, customer) in people.items()}
    url = "/v1/content/home.hero?channel=push&device=mobile&locale=en"

    # Every node knows both people (identify on node 1 reaches the others through Redis).
    started = time.monotonic()
    for node in t.nodes:
        for label, (name, _c) in people.items():
            wait_until(f"{node.name} renders {name}'s greeting",
                       lambda node=node, label=label, name=name:
                       name in http("GET", node.url + url, headers=bearer[label]).text, 5)
    identify_s = time.monotonic() - started

    # Straight from a node: person answers are private, coarse ones public.
    direct = http("GET", t.nodes[1].url + url, headers=bearer["A"])
    check(direct.headers.get("Cache-Control", "").startswith("private"),
          f"A's personal answer is {direct.headers.get('Cache-Control')!r}")

    # The anonymous answer for a URL whose content can depend on the person: does it say
    # so in Vary? (A cache that did not send person-naming requests to a node would
    # otherwise hand this copy to identified people.)
    coarse = http("GET", t.nodes[0].url + url)
    coarse_headers = {"cache_control": coarse.headers.get("Cache-Control"), "vary": coarse.headers.get("Vary")}
    if "authorization" not in (coarse.headers.get("Vary") or "").lower():
        log(f"e: NOTE the anonymous answer of {url} (which a gold customer's token changes) has "
            f"Vary {coarse.headers.get('Vary')!r}, Cache-Control {coarse.headers.get('Cache-Control')!r}")

    cohort = {}
    for label in people:
        r = http("GET", t.nginx + "/v1/context", headers=bearer[label])
        check(r.status == 200, f"GET /v1/context: {r.status} {r.text[:200]}")
        check(r.cache != "HIT", f"a cohort key came from the cache ({r.cache})")
        cohort[label] = r.json()["cohort"]
    visitors = [f"visitor-{RUN}-{i}" for i in range(3)]
    r = http("GET", t.nginx + "/v1/context", headers={"X-Anonymous-Id": visitors[0]})
    cohort["visitor"] = r.json()["cohort"]

    kinds = {
        "person": [(f"person {label}", url, bearer[label], people[label][0]) for label in people],
        "anonymous-id": [(f"visitor {v}", url, {"X-Anonymous-Id": v}, None) for v in visitors],
        "coarse": [("coarse", url, {}, None),
                   # No locale parameter: the language comes from Accept-Language, which
                   # Tailor names in Vary and nginx keeps one copy per value of.
                   ("coarse fr", "/v1/content/checkout.banner?channel=web&device=desktop",
                    {"Accept-Language": "fr"}, "Livraison"),
                   ("coarse de", "/v1/content/checkout.banner?channel=web&device=desktop",
                    {"Accept-Language": "de"}, "Kostenloser")],
        "cohort": [(f"cohort {label}", f"{url}&cohort={key_}", {}, None) for label, key_ in cohort.items()],
    }
    names = [name for name, _c in people.values()]
    counts = {kind: {} for kind in kinds}
    rounds = 4
    for round_ in range(rounds):
        order = [(kind, item) for kind, items in kinds.items() for item in items]
        random.Random(round_).shuffle(order)  # interleaved, so a leak would show
        for kind, (label, path, headers, expect) in order:
            r = http("GET", t.nginx + path, headers=headers)
            check(r.status == 200, f"{label} {path}: {r.status} {r.text[:200]}")
            counts[kind][r.cache] = counts[kind].get(r.cache, 0) + 1
            body = r.json()
            text = json.dumps(body["fields"], ensure_ascii=False)
            others = [n for n in names if n != expect]
            check(not any(n in text for n in others),
                  f"{label} got someone else's content through nginx ({r.cache}): {text[:200]}")
            if expect:
                check(expect in text, f"{label} did not get their own content ({r.cache}): {text[:200]}")
            # The same request straight to a node picks the same variant and text.
            own = http("GET", t.nodes[round_ % 3].url + path, headers=headers).json()
            check((own["variant"], own["fields"]) == (body["variant"], body["fields"]),
                  f"{label}: nginx answered {body['variant']} ({r.cache}), a node {own['variant']}")
            if kind in ("person", "anonymous-id"):
                # deploy/nginx/tailor.conf sends requests naming a person to a node.
                check(r.cache in ("BYPASS", "MISS"),
                      f"{label}: a request naming a person was answered from the cache ({r.cache})")
            if kind in ("coarse", "cohort") and round_ > 0:
                check(r.cache == "HIT", f"{label} {path}: {r.cache} in round {round_ + 1}, expected HIT "
                                        f"(Cache-Control {r.headers.get('Cache-Control')}, Vary {r.headers.get('Vary')})")
    summary["e"] = {"identify_reached_all_nodes_s": round(identify_s, 3), "rounds": rounds,
                    "origin_anonymous_answer": coarse_headers,
                    "x_cache_status": counts}
    log("e: " + "; ".join(f"{k} {v}" for k, v in counts.items()))


def step_d(t, summary):
    """Events posted continuously while a node stops: nothing acknowledged is lost."""
    answer = content_token(t, CHECKOUT)
    results = {}
    for round_, (index, sig) in enumerate(((2, signal.SIGTERM), (1, signal.SIGKILL)), start=1):
        node = t.nodes[index]
        acked, lock = set(), threading.Lock()
        # Straight to the node that stops, and through nginx (which spreads over all three).
        stats = {route: {"202": 0, "errors": 0, "after_signal_202": 0} for route in ("node", "nginx")}
        signalled = threading.Event()
        done = threading.Event()

        def poster(k, route):
            base = node.url if route == "node" else t.nginx
            n = 0
            while not done.is_set():
                ids = [f"{RUN}-d{round_}-{route}{k}-{n}-{j}" for j in range(50)]
                batch = {"events": [{"event_id": eid, "type": "impression",
                                     "tracking_token": answer["tracking_token"]} for eid in ids]}
                # Each request from its own client network, as many clients behind nginx would.
                headers = {"X-Forwarded-For": f"10.{100 + round_}.{(k * 60 + n) % 250}.7"}
                n += 1
                try:
                    r = http("POST", base + "/v1/events", body=batch, headers=headers, timeout=20)
                except OSError:
                    with lock:
                        stats[route]["errors"] += 1
                    time.sleep(0.01)
                    continue
                with lock:
                    counts = stats[route]
                    if r.status == 202:
                        counts["202"] += 1
                        counts["after_signal_202"] += signalled.is_set()
                        rejected = {x["index"] for x in r.json()["rejected"]}
                        acked.update(eid for i, eid in enumerate(ids) if i not in rejected)
                    else:
                        counts[str(r.status)] = counts.get(str(r.status), 0) + 1

        posters = [threading.Thread(target=poster, args=(k, route), daemon=True)
                   for k, route in enumerate(["node"] * 4 + ["nginx"] * 2)]
        for p in posters:
            p.start()
        wait_until("posters acknowledged", lambda: len(acked) >= 1000, 20)
        sent_at = time.monotonic()
        node.proc.send_signal(sig)
        signalled.set()
        try:
            code = node.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure(f"{node.name} did not exit within 30 s of {sig.name}")
        exit_s = time.monotonic() - sent_at
        time.sleep(0.5)  # posters keep going against the stopped node: refused, not acked
        done.set()
        for p in posters:
            p.join(timeout=30)
        stored = {row[0] for row in psql(
            f"SELECT event_id FROM events WHERE event_id LIKE '{RUN}-d{round_}-%'", t.database)}
        lost = acked - stored
        check(not lost, f"{len(lost)} events acknowledged with 202 are not in the database after "
                        f"{sig.name} of {node.name}: {sorted(lost)[:5]}")
        if sig == signal.SIGTERM:
            check(code == 0, f"{node.name} exited with {code} after SIGTERM")
        # Through nginx a client never notices: the batch goes to another node.
        failed = {k: v for k, v in stats["nginx"].items() if k not in ("202", "after_signal_202") and v}
        check(not failed, f"posting through nginx while {node.name} stopped ({sig.name}): {failed}")
        results[sig.name] = {"node": node.name, "acknowledged_events": len(acked),
                             "stored_events": len(stored), "lost": len(lost),
                             "stored_not_acknowledged": len(stored - acked),
                             "exit_code": code, "exit_after_s": round(exit_s, 2), "requests": stats}
        log(f"d: {sig.name} {node.name} (exit {code} after {exit_s:.2f} s): {len(acked)} events "
            f"acknowledged, all stored ({len(stored - acked)} stored without an answer); {stats}")
        node.start()
        node.wait_ready()
    summary["d"] = results


# ----------------------------------------------------------------------------- main


def main():
    binary = os.environ.get("SERVER_BIN", "target/debug/tailor")
    binary = str((REPO / binary) if not os.path.isabs(binary) else Path(binary))
    if not os.access(binary, os.X_OK):
        print(f"topology: SERVER_BIN {binary} is not an executable (build it first)", file=sys.stderr)
        return 2
    for tool in ("nginx", "redis-server", "redis-cli", "psql"):
        if not (shutil.which(tool) or (tool == "nginx" and os.path.exists("/usr/sbin/nginx"))):
            print(f"topology: {tool} is not installed", file=sys.stderr)
            return 2
    root = Path(tempfile.mkdtemp(prefix="tailor-topology-"))
    topology = Topology(binary, root)
    summary = {}
    failed = None
    steps = [("a", "publish reaches all nodes and nginx is purged", step_a),
             ("b", "events exactly once", step_b),
             ("c", "one evaluator per period", step_c),
             ("e", "the cache never gives one person's content to another", step_e),
             ("d", "stopping a node loses nothing acknowledged", step_d)]
    current = "start"

    def terminated(signum, _frame):
        raise Failure(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    try:
        topology.start()
        for letter, title, step in steps:
            current = f"{letter}. {title}"
            log(f"--- {current}")
            step(topology, summary)
    except Failure as e:
        failed = f"{current}: {e}"
    except Exception as e:  # a bug in the test or an unexpected answer: still clean up
        failed = f"{current}: {type(e).__name__}: {e}"
        import traceback
        traceback.print_exc()
    finally:
        topology.stop_all()
        topology.drop_database()
    try:
        summary["purges_received"] = [line.split(" purge ", 1)[1] for line in topology.purges_logged()]
    except (OSError, AttributeError):
        pass
    summary["total_s"] = round(time.monotonic() - T0, 1)
    print("\nsummary:")
    for key, value in summary.items():
        print(f"  {key}: {json.dumps(value)}")
    if failed:
        print(f"\nTOPOLOGY FAILED in {failed}", file=sys.stderr)
        for node in topology.nodes:
            print(f"\n--- {node.name} log (last lines): {node.log_path}\n{tail(node.log_path, 15)}", file=sys.stderr)
        print(f"\nlogs kept in {root}", file=sys.stderr)
        return 1
    if os.environ.get("TOPOLOGY_KEEP"):
        print(f"logs kept in {root} (TOPOLOGY_KEEP)")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\ntopology: all checks passed in {summary['total_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
