"""The few Hoster API calls the benchmarks make (stdlib only). BASE comes from argv[1]."""
import json
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")


def publish(body):
    t = call("POST", "/api/v1/templates", body)
    call("POST", f"/api/v1/templates/{t['id']}/publish")
    return t["id"]


def deployment(template, name):
    return call("POST", "/api/v1/deployments", {"template_id": template, "customer_id": "bench", "name": name})["id"]
