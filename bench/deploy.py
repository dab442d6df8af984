"""Deployment benchmarks against a running Hoster (argv[1] = base URL, argv[2] = instance).

1. Example 6 (three services) started through Hoster vs. the same containers through the docker
   CLI (network create + run in dependency order), alternating, N rounds: medians and ratio.
2. Deleting a running three-service deployment whose processes ignore SIGTERM, vs. force-removing
   the same containers and network with the docker CLI (alternating, medians, ratio).
3. 100 deployments of a one-service template started (8 at a time) and listed; then Hoster's CPU
   use while they run and nobody calls it (BENCH_IDLE_SECONDS, default 60; needs HOSTER_PID).
Loopback only; everything created is deleted.
"""
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time

from hoster_api import call, deployment, publish

INSTANCE = sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 7


def docker(*args):
    subprocess.run(["docker", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cli_three_tier(n):
    net = f"bench-cli-{n}"
    start = time.perf_counter()
    docker("network", "create", net)
    docker("run", "-d", "--name", f"{net}-db", "--network", net, "--network-alias", "db", "redis:alpine")
    docker("run", "-d", "--name", f"{net}-api", "--network", net, "--network-alias", "api", "traefik/whoami")
    docker("run", "-d", "--name", f"{net}-web", "--network", net, "--network-alias", "web",
           "-p", "127.0.0.1::80", "nginx:alpine")
    elapsed = time.perf_counter() - start
    docker("rm", "-f", "-v", f"{net}-web", f"{net}-api", f"{net}-db")
    docker("network", "rm", net)
    return elapsed


def hoster_three_tier(template, n):
    d = deployment(template, f"bench three tier {n}")
    start = time.perf_counter()
    result = call("POST", f"/api/v1/deployments/{d}/start")
    elapsed = time.perf_counter() - start
    assert result["status"] == "running", result
    call("DELETE", f"/api/v1/deployments/{d}")
    return elapsed


example = json.load(open("testdata/examples/06-three-tier-app.json"))
# Same containers as the CLI run: no fixed host port, so rounds never wait for one.
example["compose_spec"] = example["compose_spec"].replace('"8080:80"', '"80"')
three_tier = publish(example)
hoster_times, cli_times = [], []
for n in range(ROUNDS):
    hoster_times.append(hoster_three_tier(three_tier, n))
    cli_times.append(cli_three_tier(n))
h, c = statistics.median(hoster_times), statistics.median(cli_times)
print(f"example 6 (3 services), {ROUNDS} rounds, image present, fresh network each time")
print(f"  hoster start (API, synchronous): median {h * 1000:7.1f} ms  (min {min(hoster_times) * 1000:.1f}, max {max(hoster_times) * 1000:.1f})")
print(f"  docker CLI network+3x run -d:    median {c * 1000:7.1f} ms  (min {min(cli_times) * 1000:.1f}, max {max(cli_times) * 1000:.1f})")
print(f"  ratio hoster / CLI: {h / c:.2f}x  (goal <= 1.10x)")

# Busybox `sleep` as PID 1 ignores SIGTERM: a graceful stop would wait out every grace period.
STUBBORN = {"name": "bench stubborn", "version": "1.0.0", "creator_id": "bench",
            "compose_spec": "services:\n  web:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    depends_on: [api]\n"
                            "  api:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    depends_on: [db]\n"
                            "  db:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n"}
stubborn = publish(STUBBORN)


def hoster_delete(n):
    d = deployment(stubborn, f"bench stubborn {n}")
    assert call("POST", f"/api/v1/deployments/{d}/start")["status"] == "running"
    start = time.perf_counter()
    call("DELETE", f"/api/v1/deployments/{d}")
    return time.perf_counter() - start


def cli_remove(n):
    net = f"bench-rm-{n}"
    docker("network", "create", net)
    for name in ["db", "api", "web"]:
        docker("run", "-d", "--name", f"{net}-{name}", "--network", net, "busybox", "sleep", "600")
    start = time.perf_counter()
    docker("rm", "-f", "-v", f"{net}-web", f"{net}-api", f"{net}-db")
    docker("network", "rm", net)
    return time.perf_counter() - start


delete_times, remove_times = [], []
for n in range(ROUNDS):
    delete_times.append(hoster_delete(n))
    remove_times.append(cli_remove(n))
h, c = statistics.median(delete_times), statistics.median(remove_times)
print(f"delete of a running 3-service deployment whose processes ignore SIGTERM, {ROUNDS} rounds")
print(f"  hoster DELETE (synchronous):           median {h * 1000:7.1f} ms  (max {max(delete_times) * 1000:.1f})")
print(f"  docker CLI rm -f -v x3 + network rm:   median {c * 1000:7.1f} ms  (max {max(remove_times) * 1000:.1f})")
print(f"  ratio hoster / CLI: {h / c:.2f}x  (goal <= 1.20x)")

one = publish({"name": "bench one service", "version": "1.0.0", "creator_id": "bench",
               "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports: [\"80\"]\n"})
ids = [deployment(one, f"bench one {i}") for i in range(100)]
start = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    results = list(pool.map(lambda d: call("POST", f"/api/v1/deployments/{d}/start")["status"], ids))
started = time.perf_counter() - start
assert results.count("running") == 100, results
list_times = []
for _ in range(20):
    t = time.perf_counter()
    page = call("GET", "/api/v1/deployments?limit=100")
    list_times.append(time.perf_counter() - t)
assert page["total"] >= 100 and len(page["deployments"]) == 100
running = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.hoster.instance={INSTANCE}"],
                         capture_output=True, text=True).stdout.split()
print("100 deployments of a one-service template (nginx), 8 starts in flight")
print(f"  all started in {started:.1f} s ({100 / started:.1f} starts/s); {len(running)} containers running")
print(f"  GET /deployments?limit=100 (live container state): median {statistics.median(list_times) * 1000:.1f} ms")
pid = os.environ.get("HOSTER_PID")
if pid:
    idle = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    time.sleep(2)  # let the starts' aftermath settle
    before, t0 = cpu_seconds(), time.perf_counter()
    time.sleep(idle)
    used, wall = cpu_seconds() - before, time.perf_counter() - t0
    threads = len(os.listdir(f"/proc/{pid}/task"))
    print(f"  idle with {len(running)} containers running: {used:.2f} CPU-s in {wall:.0f} s = "
          f"{used / wall * 100:.2f}% of one core (goal < 1%); {threads} threads")
start = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda d: call("DELETE", f"/api/v1/deployments/{d}"), ids))
print(f"  all deleted in {time.perf_counter() - start:.1f} s")
