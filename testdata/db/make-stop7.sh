#!/usr/bin/env bash
# Regenerates stop7.sql: the database of the release that landed at stop 7 (commit cd7b94a),
# with a row in every table, as the upgrade test expects. Needs that release's binary:
#   git worktree add /tmp/prev cd7b94a && (cd /tmp/prev && cargo build -p hoster)
#   testdata/db/make-stop7.sh /tmp/prev/target/debug/hoster
set -euo pipefail
bin=$1
out=$(cd "$(dirname "$0")" && pwd)/stop7.sql
dir=$(mktemp -d)
export HOSTER_DATABASE_PATH=$dir/hoster.db HOSTER_CONFIG_DIR=$dir/configs HOSTER_INSTANCE=fixture$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" token create --role admin --subject ops >/dev/null
"$bin" token create --role customer --subject customer-1 --name fixture >/dev/null
HOSTER_SERVER_PORT=$port "$bin" serve 2>"$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
api=http://127.0.0.1:$port/api/v1
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
post() { curl -sf -X POST -H 'Content-Type: application/json' ${2:+-d "$2"} "$api$1"; }
nginx=$(post /templates '{"name": "nginx-web", "version": "1.0.0", "creator_id": "user-1", "description": "Simple nginx web server",
  "compose_spec": "services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, \"80\"]\n    ports:\n      - \"80\"",
  "config_files": [{"name": "index.html", "path": "/www/index.html", "content": "<h1>Hi</h1>"}],
  "price_monthly": 500, "category": "web", "tags": ["nginx"]}' | jq -r .id)
post "/templates/$nginx/publish" >/dev/null
post /templates '{"name": "with-secret", "version": "0.1.0", "creator_id": "user-2",
  "compose_spec": "services:\n  db:\n    image: postgres:15-alpine",
  "variables": [{"name": "DB_PASSWORD", "description": "db", "default": "s3cret", "required": true, "secret": true}]}' >/dev/null
stopped=$(post /deployments "{\"template_id\": \"$nginx\", \"customer_id\": \"customer-1\", \"name\": \"stopped site\"}" | jq -r .id)
post "/deployments/$stopped/start" >/dev/null
post "/deployments/$stopped/stop" >/dev/null
pending=$(post /deployments "{\"template_id\": \"$nginx\", \"customer_id\": \"customer-1\", \"name\": \"pending site\"}" | jq -r .id)
post "/deployments/$pending/domains" '{"domain": "www.example.com"}' >/dev/null
kill $pid; wait $pid || true
docker ps -aq --filter "label=io.hoster.instance=$HOSTER_INSTANCE" | xargs -r docker rm -f -v >/dev/null
docker network ls -q --filter "label=io.hoster.instance=$HOSTER_INSTANCE" | xargs -r docker network rm >/dev/null
docker volume ls -q --filter "label=io.hoster.instance=$HOSTER_INSTANCE" | xargs -r docker volume rm >/dev/null
{ echo "-- The database of the stop-7 release (cd7b94a), made by testdata/db/make-stop7.sh."; sqlite3 "$dir/hoster.db" .dump; } >"$out"
echo "wrote $out"
