"""Proxy benchmark against a running Hoster (argv[1] = base URL, argv[2] = wrk duration).

One nginx container serves a small page. The same page is fetched with wrk (2 threads, 64
connections) three ways, in rounds: directly from the container's host port, through Hoster's
proxy by hostname, and through Debian's nginx configured as a keep-alive reverse proxy to the same
host port. Prints requests/s and p99 per way (median over rounds) and the ratios. Loopback only.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from hoster_api import BASE, call, deployment, publish

DURATION = sys.argv[2]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 64


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url, host=None, threads=2, connections=CONNECTIONS):
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{DURATION}", "--latency", url]
    if host:
        args[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"wrk saw errors against {url} ({host}):\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, p99_ms


def wait_ok(url, host=None):
    deadline = time.time() + 20
    while True:
        try:
            req = urllib.request.Request(url, headers={"Host": host} if host else {})
            with urllib.request.urlopen(req) as r:
                return r.read()
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


template = publish({"name": "bench proxy", "version": "1.0.0", "creator_id": "bench",
                    "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n"})
d = call("POST", f"/api/v1/deployments/{deployment(template, 'bench proxy')}/start")
host_port = d["containers"][0]["ports"][0]["host_port"]
hoster_port = BASE.rsplit(":", 1)[1]
direct = f"http://127.0.0.1:{host_port}/"
page = wait_ok(direct)

conf_dir = tempfile.mkdtemp()
nginx_port = free_port()
with open(f"{conf_dir}/nginx.conf", "w") as f:
    f.write(f"""
worker_processes auto;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream site {{ server 127.0.0.1:{host_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{nginx_port};
    location / {{
      proxy_pass http://site;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
""")
nginx = subprocess.Popen(["nginx", "-p", conf_dir, "-c", f"{conf_dir}/nginx.conf", "-g", "daemon off;"])
try:
    ways = {
        "direct (container host port)": (direct, None),
        "through Hoster's proxy": (f"http://127.0.0.1:{hoster_port}/", d["domain"]),
        "through nginx (Debian)": (f"http://127.0.0.1:{nginx_port}/", None),
    }
    for url, host in ways.values():
        assert wait_ok(url, host) == page, f"{url} ({host}) does not serve the page"
    results = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, (url, host) in ways.items():
            results[name].append(wrk(url, host))
    print(f"small page ({len(page)} bytes), wrk -t2 -c{CONNECTIONS} -d{DURATION}, median of {ROUNDS} rounds")
    med = {}
    for name, runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        p99 = statistics.median(p for _, p in runs)
        med[name] = (rps, p99)
        print(f"  {name:32} {rps:9.0f} req/s   p99 {p99:6.2f} ms")
    (d_rps, d_p99), (h_rps, h_p99), (n_rps, n_p99) = med.values()
    print(f"  Hoster / nginx throughput: {h_rps / n_rps:.2f}x  (goal >= 1.00x)")
    print(f"  Hoster p99 - nginx p99:    {h_p99 - n_p99:+.2f} ms  (goal <= 0)")
    # At 64 connections the two cores are saturated (wrk, docker-proxy, the container's nginx and
    # the proxy share them), so p99 there is mostly queueing. A light load shows what one hop adds.
    print(f"light load (wrk -t1 -c4 -d{DURATION}), median of {ROUNDS} rounds: what a hop adds")
    light = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, (url, host) in ways.items():
            light[name].append(wrk(url, host, threads=1, connections=4))
    med = {}
    for name, runs in light.items():
        med[name] = (statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs))
        print(f"  {name:32} {med[name][0]:9.0f} req/s   p99 {med[name][1]:6.2f} ms")
    (d_rps, d_p99), (h_rps, h_p99), (n_rps, n_p99) = med.values()
    print(f"  Hoster / nginx throughput: {h_rps / n_rps:.2f}x  (goal >= 1.00x)")
    print(f"  Hoster p99 over direct:    {h_p99 - d_p99:+.2f} ms; nginx: {n_p99 - d_p99:+.2f} ms (goal: no more than nginx)")
finally:
    nginx.terminate()
    nginx.wait()
    call("DELETE", f"/api/v1/deployments/{d['id']}")
