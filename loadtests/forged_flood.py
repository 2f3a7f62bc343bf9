#!/usr/bin/env python3
"""The forged flood from issue #11, against a running server: four text/plain beacons
of 500 events (1,800 impressions, 200 opt-outs, random event and anonymous ids) from
one address, with the tracking token of the public home.hero web answer.

    python3 loadtests/forged_flood.py http://127.0.0.1:8080
    cargo run --release -- governance evaluate     # then: no action, verdict unreliable
"""
import json
import sys
import urllib.request
import uuid

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
content = json.load(urllib.request.urlopen(f"{base}/v1/content/home.hero?channel=web&locale=en"))
token = content["tracking_token"]
print("variant served:", content["variant"]["id"])
for beacon in range(4):
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "type": "opt_out" if (beacon * 500 + i) % 10 == 9 else "impression",
            "tracking_token": token,
            "anonymous_id": uuid.uuid4().hex,
        }
        for i in range(500)
    ]
    request = urllib.request.Request(
        f"{base}/v1/events",
        data=json.dumps({"events": events}).encode(),
        headers={
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
        },
    )
    print("beacon", beacon, urllib.request.urlopen(request).read().decode())
