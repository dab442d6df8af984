"""A 2 GiB volume backed up and restored through Hoster (argv[1] = base URL; HOSTER_PID): time,
throughput and Hoster's peak RSS while it streams, against `docker cp` of the same volume to
/dev/null measured in the same run. Goal: RSS under 100 MB. Loopback only; everything created
is deleted. BENCH_VOLUME_MIB sets the size (default 2048)."""
import os
import subprocess
import sys
import threading
import time

from hoster_api import call, deployment, publish

MIB = int(os.environ.get("BENCH_VOLUME_MIB", "2048"))
pid = os.environ["HOSTER_PID"]


def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_during(work):
    peak, done = [rss_mb()], threading.Event()

    def sample():
        while not done.is_set():
            peak.append(rss_mb())
            time.sleep(0.05)

    t = threading.Thread(target=sample)
    t.start()
    start = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - start
    done.set()
    t.join()
    return result, elapsed, max(peak)


# Random data, so compression cannot make the stream small.
compose = (
    "services:\n  app:\n    image: busybox\n"
    f"    command: [\"sh\", \"-c\", \"dd if=/dev/urandom of=/data/big bs=1M count={MIB} 2>/dev/null && touch /data/done; exec sleep 86400\"]\n"
    "    volumes:\n      - data:/data\nvolumes:\n  data: {}\n"
)
template = publish({"name": "backup bench", "version": "1.0.0", "creator_id": "bench", "compose_spec": compose})
d = deployment(template, "big volume")
call("POST", f"/api/v1/deployments/{d}/start")
container = call("GET", f"/api/v1/deployments/{d}")["containers"][0]["container_id"]
while subprocess.run(["docker", "exec", container, "test", "-e", "/data/done"]).returncode != 0:
    time.sleep(1)

print(f"idle RSS before: {rss_mb():.1f} MB")
start = time.perf_counter()
subprocess.run(f"docker cp {container}:/data - > /dev/null", shell=True, check=True)
cp = time.perf_counter() - start
backup, took, peak = peak_rss_during(lambda: call("POST", f"/api/v1/deployments/{d}/backups"))
print(f"backup of {MIB} MiB: {took:.1f} s ({MIB / took:.0f} MiB/s), peak RSS {peak:.1f} MB; "
      f"docker cp to /dev/null {cp:.1f} s ({took / cp:.2f}x); archive {backup['size_bytes'] / 2**20:.0f} MiB")
_, took, peak = peak_rss_during(lambda: call("POST", f"/api/v1/deployments/{d}/backups/{backup['id']}/restore"))
print(f"restore: {took:.1f} s ({MIB / took:.0f} MiB/s) including stop and start, peak RSS {peak:.1f} MB")
call("DELETE", f"/api/v1/deployments/{d}/backups/{backup['id']}")
call("DELETE", f"/api/v1/deployments/{d}")
call("DELETE", f"/api/v1/templates/{template}")
