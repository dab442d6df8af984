"""Console pages with 1,000 deployments stored: each page's time over loopback, sequential
requests (so it is the server's time plus one loopback round trip), median and p95.
Goal: every page under 50 ms."""
import concurrent.futures
import json
import statistics
import sys
import time
import urllib.request

from hoster_api import BASE, call, publish

ROUNDS = 50
spec = json.load(open("testdata/examples/01-nginx-simple.json"))
template = publish(dict(spec, name="console bench", creator_id="bench"))


def create(i):
    body = {"template_id": template, "customer_id": f"customer-{i % 10}", "name": f"site {i}"}
    return call("POST", "/api/v1/deployments", body)["id"]


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(create, range(1000)))
total = call("GET", "/api/v1/deployments?limit=1")["total"]
assert total == 1000, total

pages = [
    ("catalog", "/ui/"),
    ("deployments, first page", "/ui/deployments"),
    ("deployments, last page", "/ui/deployments?offset=980"),
    ("deployments, filtered", "/ui/deployments?status=pending&customer_id=customer-3"),
    ("one deployment", f"/ui/deployments/{ids[500]}"),
    ("template", f"/ui/templates/{template}"),
    ("studio", "/ui/studio"),
    ("operator", "/ui/operator"),
    ("audit log", "/ui/operator/audit"),
]
worst = 0.0
print(f"{'page':<28} {'median':>9} {'p95':>9} {'bytes':>8}")
for name, path in pages:
    times = []
    for i in range(ROUNDS + 3):
        start = time.perf_counter()
        with urllib.request.urlopen(BASE + path) as r:
            body = r.read()
            assert r.status == 200, (path, r.status)
        if i >= 3:  # the first few warm the caches
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    worst = max(worst, p95)
    print(f"{name:<28} {statistics.median(times):>7.2f}ms {p95:>7.2f}ms {len(body):>8}")
print(f"slowest p95: {worst:.2f} ms (goal < 50 ms)")
