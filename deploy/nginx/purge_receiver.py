#!/usr/bin/env python3
"""Receives Tailor's CDN purge webhook and deletes matching files from nginx's cache.

Tailor POSTs `{"surrogate_keys": ["placement/home.hero", ...], "reason", "generation"}`
to `purge_webhook_url` when a publish or archive changes live content (src/delivery/
purge.rs), and sends the same purge again about two seconds later. Content answers carry
the same keys in `Surrogate-Key:` (space-separated). nginx has no purge by tag, so this
service walks `proxy_cache_path` and deletes every cache file whose stored upstream
header block names one of the keys. nginx treats a cache file that is gone as a miss, so
the next request goes to a Tailor node.

An nginx cache file is: a binary header, a line `KEY: <cache key>`, the upstream
response's status line and headers as received (also those hidden from clients with
`proxy_hide_header`), a blank line, the body. Only the header part is read.

It answers 200 `{"deleted": N, "scanned": M}` only after the files are gone, so Tailor's
retries cover a receiver that failed; 400 for a body that is not a purge; 401 when a
shared secret is configured and the request does not carry it as `Authorization: Bearer
<secret>` (what Tailor sends when `purge_webhook_secret` is set).

    python3 purge_receiver.py --listen 127.0.0.1:9090 --cache-dir /var/cache/nginx/tailor
        [--secret-file /etc/tailor/purge-secret]

The secret may also come from the environment variable PURGE_SECRET; with neither, any
POST is taken (listen where only Tailor's nodes can reach it). `GET /` answers the totals
since start (`{"purges", "deleted", "scanned"}`), for health checks and tests.

Cost: each purge reads the first bytes of every cache file (a few KiB each). That is
fine for caches of tens of thousands of entries; a much larger cache wants an index of
keys to files instead.
"""

import argparse
import errno
import hmac
import json
import os
import re
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Cache files are named by the MD5 of their key (32 hex digits). nginx's temporary files
# (with use_temp_path=off, written inside the cache directory) have numeric names: they
# are skipped, so a response being written is never cut from under nginx.
CACHE_FILE_NAME = re.compile(r"^[0-9a-f]{32}$")
# The header part of a cache file: nginx's own header, the KEY line and the upstream
# headers fit well within this (proxy_buffer_size bounds the upstream headers).
HEADER_READ_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20


def stored_surrogate_keys(path):
    """The Surrogate-Key values stored in one nginx cache file, or None when the file is
    not a complete cache file (vanished, being replaced, not nginx's)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        # Vanished (nginx's cache manager, another purge) or a symlink (ELOOP).
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = b""
        while len(head) < HEADER_READ_BYTES:
            chunk = os.read(fd, HEADER_READ_BYTES - len(head))
            if not chunk:
                break
            head += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    start = head.find(b"\nKEY: ")
    if start < 0:
        return None
    line_end = head.find(b"\n", start + 1)
    if line_end < 0:
        return None
    block_end = head.find(b"\r\n\r\n", line_end)
    if block_end < 0:
        return None
    keys = set()
    # The first line after KEY is the status line; header names are case-insensitive.
    for line in head[line_end + 1 : block_end].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"surrogate-key":
            keys.update(value.decode("latin-1").split())
    return keys


def cache_files(cache_dir):
    """Every cache file under `cache_dir`: regular files with a cache file's name, never
    through a symlink (os.walk does not follow them, and files are opened O_NOFOLLOW)."""
    for root, dirs, files in os.walk(cache_dir, followlinks=False):
        # Directory symlinks are listed in `dirs` but not followed; drop them anyway.
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            if CACHE_FILE_NAME.match(name):
                yield os.path.join(root, name)


def purge(cache_dir, keys):
    """Deletes every cache file storing one of `keys`; answers (deleted, scanned)."""
    wanted = set(keys)
    deleted = scanned = 0
    for path in cache_files(cache_dir):
        stored = stored_surrogate_keys(path)
        if stored is None:
            continue
        scanned += 1
        if stored & wanted:
            try:
                os.unlink(path)
                deleted += 1
            except OSError as e:
                if e.errno != errno.ENOENT:  # gone already: that is what we wanted
                    raise
    return deleted, scanned


class Receiver(BaseHTTPRequestHandler):
    server_version = "tailor-purge-receiver"
    protocol_version = "HTTP/1.1"

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with self.server.lock:
            totals = dict(self.server.totals)
        self.answer(200, totals)

    def do_POST(self):
        secret = self.server.secret
        if secret is not None:
            sent = self.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {secret}".encode()):
                return self.answer(401, {"error": "missing or wrong shared secret"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self.answer(411, {"error": "Content-Length required"})
        if length < 0 or length > MAX_BODY_BYTES:
            return self.answer(413, {"error": "body too large"})
        raw = self.rfile.read(length)
        try:
            document = json.loads(raw)
            keys = document["surrogate_keys"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError("surrogate_keys must be a list of strings")
        except (ValueError, KeyError, TypeError) as e:
            return self.answer(400, {"error": f"not a purge: {e}"})
        try:
            deleted, scanned = purge(self.server.cache_dir, keys)
        except OSError as e:
            # Not 2xx: Tailor retries.
            return self.answer(500, {"error": f"purge failed: {e.strerror}"})
        with self.server.lock:
            self.server.totals["purges"] += 1
            self.server.totals["deleted"] += deleted
            self.server.totals["scanned"] += scanned
        self.log_message(
            "purge keys=%s reason=%s generation=%s deleted=%d scanned=%d",
            " ".join(keys),
            document.get("reason"),
            document.get("generation"),
            deleted,
            scanned,
        )
        self.answer(200, {"deleted": deleted, "scanned": scanned})

    def log_message(self, fmt, *args):
        sys.stderr.write("purge-receiver: " + (fmt % args) + "\n")
        sys.stderr.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:9090", help="HOST:PORT")
    parser.add_argument("--cache-dir", required=True, help="nginx's proxy_cache_path")
    parser.add_argument(
        "--secret-file",
        help="file holding the shared secret (else $PURGE_SECRET; neither: no check)",
    )
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    secret = os.environ.get("PURGE_SECRET") or None
    if args.secret_file:
        with open(args.secret_file, encoding="utf-8") as f:
            secret = f.read().strip() or None
    cache_dir = os.path.realpath(args.cache_dir)
    if not os.path.isdir(cache_dir):
        parser.error(f"--cache-dir {args.cache_dir} is not a directory")

    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Receiver)
    server.daemon_threads = True
    server.cache_dir = cache_dir
    server.secret = secret
    server.lock = threading.Lock()
    server.totals = {"purges": 0, "deleted": 0, "scanned": 0}
    sys.stderr.write(
        f"purge-receiver: listening on {args.listen}, cache {cache_dir}"
        f"{', shared secret required' if secret else ''}\n"
    )
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
