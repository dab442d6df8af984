#!/usr/bin/env bash
# Prints the figures behind Hoster's speed goals. Loopback only, bounded in time.
#   bench/run.sh            # all
#   bench/run.sh templates  # one part: compose | templates | deploy | proxy | console | backup
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}
DURATION=${BENCH_DURATION:-10s}
instance=bench$$   # the engine objects of the deploy and proxy parts carry this label
say() { printf '\n== %s\n' "$*"; }

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p hoster
BIN=${HOSTER_BIN:-target/release/hoster}  # another build to compare against

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_hoster() { # start_hoster DIR -> sets HOSTER_PID, BASE
  local dir=$1 port
  port=$(free_port)
  HOSTER_DATABASE_PATH="$dir/hoster.db" HOSTER_SERVER_PORT=$port HOSTER_MAX_DEPLOYMENTS_PER_CUSTOMER=1000 HOSTER_LOG=warn "$BIN" serve >/dev/null 2>"$dir/hoster.log" &
  HOSTER_PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null && return; sleep 0.05; done
  echo "hoster did not start" >&2; cat "$dir/hoster.log" >&2; exit 1
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

if [[ $part == all || $part == compose ]]; then
  say "compose parse + validate (criterion)"
  cargo bench -q -p hoster-core --bench compose -- --noplot 2>/dev/null | grep -E 'compose/|time:|thrpt:'
fi

# Runs a bench/*.py script against a Hoster with its own engine instance; whatever happens,
# stops Hoster and removes what it created on the engine.
with_engine() { # with_engine SCRIPT ARGS...
  testenv/setup.sh >/dev/null
  dir=$(mktemp -d)
  HOSTER_INSTANCE=$instance HOSTER_CONFIG_DIR="$dir/configs" start_hoster "$dir"
  trap 'kill $HOSTER_PID 2>/dev/null; rm -rf "$dir"
        docker ps -aq --filter label=io.hoster.instance=$instance | xargs -r docker rm -f -v >/dev/null
        docker network ls -q --filter label=io.hoster.instance=$instance | xargs -r docker network rm >/dev/null
        docker volume ls -q --filter label=io.hoster.instance=$instance | xargs -r docker volume rm >/dev/null' EXIT
  local script=$1
  shift
  HOSTER_PID=$HOSTER_PID python3 "bench/$script" "$BASE" "$@"
  kill $HOSTER_PID; wait $HOSTER_PID 2>/dev/null || true
  rm -rf "$dir"
  trap - EXIT
}

if [[ $part == all || $part == deploy ]]; then
  say "deployments (bench/deploy.py)"
  with_engine deploy.py "$instance" "${BENCH_ROUNDS:-7}"
fi

if [[ $part == all || $part == proxy ]]; then
  command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
  say "proxy: direct vs Hoster vs nginx (bench/proxy.py)"
  with_engine proxy.py "$DURATION"
fi

if [[ $part == all || $part == console ]]; then
  say "console pages with 1,000 deployments stored (bench/console.py)"
  with_engine console.py
fi

if [[ $part == all || $part == backup ]]; then
  say "a 2 GiB volume backed up and restored (bench/backup.py)"
  with_engine backup.py
fi

if [[ $part == all || $part == templates ]]; then
  dir=$(mktemp -d)
  start_hoster "$dir"
  trap 'kill $HOSTER_PID 2>/dev/null; rm -rf "$dir"' EXIT
  sleep 1
  say "idle RSS of hoster serve: $(rss_mb $HOSTER_PID) MB (goal < 30 MB)"
  python3 - "$BASE" <<'PY'
import json, sys, urllib.request, concurrent.futures
base = sys.argv[1]
spec = json.load(open("testdata/examples/06-three-tier-app.json"))
def create(i):
    body = dict(spec, name=f"bench template {i}", description=f"benchmark template number {i}")
    req = urllib.request.Request(base + "/api/v1/templates", json.dumps(body).encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(create, range(1000)))
total = json.load(urllib.request.urlopen(base + "/api/v1/templates?limit=1"))["total"]
assert total == 1000, total
PY
  # The load generator shares the two cores: one wrk thread leaves Hoster about one core; two
  # wrk threads take more of it. Both are printed.
  for load in "1 16" "2 32"; do
    set -- $load
    say "GET /api/v1/templates (20 per page) with 1,000 templates stored: wrk -t$1 -c$2, $DURATION"
    wrk -t"$1" -c"$2" -d"$DURATION" --latency "$BASE/api/v1/templates" | grep -E 'Requests/sec|Transfer/sec|50%|90%|99%|Non-2xx'
  done
  say "GET /api/v1/templates?q=number%20999&published=false (filtered search): wrk -t1 -c16"
  wrk -t1 -c16 -d"$DURATION" --latency "$BASE/api/v1/templates?q=number%20999&published=false" | grep -E 'Requests/sec|99%|Non-2xx'
  say "RSS after load: $(rss_mb $HOSTER_PID) MB"
fi
