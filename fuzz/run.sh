#!/usr/bin/env bash
# Bounded fuzzing, run by `make test` (and so by CI):
#   1. cargo fuzz: the compose parser and the request decoders, FUZZ_SECONDS each (default 30),
#      starting from the corpus kept in fuzz/corpus/ (new finds go to target/fuzz-corpus/).
#   2. schemathesis (PyPI) against a running `hoster serve` in token mode, as an admin, every
#      route: no 5xx, every response (status, headers, body) as /api/v1/openapi.json says.
#      Its "coverage" phase is left out: schemathesis 4.x itself sometimes crashes in it
#      (a KeyError inside its generator), which is not a finding about Hoster. Requests that
#      follow a stream (follow=true, stream=true) are filtered out (fuzz/schemathesis_hooks.py):
#      they stay open until the client leaves. Any request still gets at most 30 s.
# A crash leaves its input in fuzz/artifacts/ and fails the run.
#   fuzz/run.sh [cargo|api]
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}
log() { printf '[fuzz] %s\n' "$*" >&2; }
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}

if [[ $part == all || $part == cargo ]]; then
  command -v cargo-fuzz >/dev/null || { log "installing cargo-fuzz"; cargo install -q cargo-fuzz --locked; }
  # cargo fuzz needs nightly compiler flags; on a machine with only stable, let stable accept
  # them and fuzz without a sanitizer (coverage guidance still works).
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
    sanitizer=()
  else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
    sanitizer=(--sanitizer none)
  fi
  for target in compose template; do
    mkdir -p "target/fuzz-corpus/$target"
    log "cargo fuzz $target for ${SECONDS_PER_TARGET}s"
    out=target/fuzz-$target.log
    if ! (cd fuzz && CARGO_TARGET_DIR=../target/fuzz "${fuzz[@]}" run -O "${sanitizer[@]}" "$target" "../target/fuzz-corpus/$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -print_final_stats=1) >"$out" 2>&1; then
      tail -40 "$out" >&2
      log "cargo fuzz $target found a failure; its input is in fuzz/artifacts/$target/"
      exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$out" >&2 || true
  done
fi

if [[ $part == all || $part == api ]]; then
  venv=target/schemathesis-venv
  [ -x "$venv/bin/st" ] || { log "installing schemathesis"; python3 -m venv "$venv"; "$venv/bin/pip" install -q schemathesis; }
  cargo build -q -p hoster
  dir=$(mktemp -d)
  instance=fuzz$$
  export HOSTER_DATABASE_PATH=$dir/hoster.db
  token=$(target/debug/hoster token create --role admin --subject fuzz | tail -1)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # Domains are taken on trust: this machine has no DNS to prove them with.
  HOSTER_AUTH_MODE=token HOSTER_RATE_LIMIT=0 HOSTER_DOMAIN_VERIFICATION=none HOSTER_SERVER_PORT=$port HOSTER_INSTANCE=$instance \
    HOSTER_CONFIG_DIR=$dir/configs HOSTER_LOG=warn target/debug/hoster serve 2>"$dir/hoster.log" &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null
        docker ps -aq --filter label=io.hoster.instance=$instance | xargs -r docker rm -f -v >/dev/null
        docker network ls -q --filter label=io.hoster.instance=$instance | xargs -r docker network rm >/dev/null
        docker volume ls -q --filter label=io.hoster.instance=$instance | xargs -r docker volume rm >/dev/null
        rm -rf "$dir"' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  log "schemathesis against every route of http://127.0.0.1:$port"
  SCHEMATHESIS_HOOKS=fuzz/schemathesis_hooks.py "$venv/bin/st" run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --phases examples,fuzzing,stateful \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
    --max-examples "${FUZZ_EXAMPLES:-50}" --workers 2 --seed 1 --no-color --request-timeout 30 >"$dir/st.log" 2>&1 \
    || { cat "$dir/st.log" >&2; log "schemathesis found failures (above)"; exit 1; }
  tail -12 "$dir/st.log" >&2
fi
