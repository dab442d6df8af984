#!/usr/bin/env bash
# Brings up what Hoster's tests need on a bare Debian machine: Debian's Docker engine,
# running, local stand-ins for every image the spec's examples name, and the tools the tests
# and fuzz/run.sh call (psql, jq, curl, pebble, docker-registry, python3 with venv, chromium
# and chromedriver, moto's S3 server in target/moto-venv). Idempotent:
# whatever already exists is kept, so a second run takes seconds.
#
#   testenv/setup.sh                    # engine + images
#   testenv/setup.sh engine             # just the engine (what `make run` needs)
#   testenv/setup.sh image TAG DIR ...  # one stand-in (tests use it)
#   HOSTER_TESTENV_REBUILD=1            # rebuild the stand-ins even if present
#
# Stand-ins never shadow real images: a name that is on the engine without the stand-in label
# is kept as it is, and a missing one is pulled first (a machine with a registry uses the real
# images); only what cannot be pulled is built here. `make testenv-clean` removes the stand-ins.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[testenv] %s\n' "$*" >&2; }
export DOCKER_BUILDKIT=0

need_root() {
  [ "$(id -u)" = 0 ] || { log "run as root (needs apt-get and dockerd), or start Docker and build the images yourself"; exit 1; }
}

install() { # install PACKAGE... (Debian's)
  [ $# -eq 0 ] && return
  need_root
  log "installing $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
  command -v psql >/dev/null || missing+=(postgresql-client)   # e2e: log in to the postgres example
  command -v jq >/dev/null || missing+=(jq)                      # e2e: the spec's workflow script
  command -v curl >/dev/null || missing+=(curl)
  command -v pebble >/dev/null || missing+=(pebble)              # e2e: a real ACME server
  # fuzz/run.sh puts schemathesis in a venv; Debian splits venv/ensurepip out of python3.
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3 python3-venv)
  command -v c++ >/dev/null || missing+=(g++)                    # cargo fuzz builds libFuzzer (C++)
  command -v systemd-analyze >/dev/null || missing+=(systemd)    # the unit in dist/ is verified
  command -v setpriv >/dev/null || missing+=(util-linux)         # the non-root start test
  command -v docker-registry >/dev/null || missing+=(docker-registry) # e2e: a real image pull
  [ -x /usr/bin/chromium ] || missing+=(chromium)                # e2e: the console in a browser
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)     #   driven over WebDriver
  install "${missing[@]}"
}

start_engine() {
  if docker info >/dev/null 2>&1; then return; fi
  need_root
  log "starting dockerd"
  # Hoster gives every deployment its own bridge network; the engine's default pools hold only
  # about 30, so hand it 256 /24s from a range this machine does not route.
  nohup dockerd --default-address-pool base=10.201.0.0/16,size=24 >/var/log/hoster-testenv-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { log "engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"; return; }
    sleep 1
  done
  log "dockerd did not come up; see /var/log/hoster-testenv-dockerd.log"
  tail -20 /var/log/hoster-testenv-dockerd.log >&2 || true
  exit 1
}

# A registry on loopback for the tests that pull (the engine trusts 127.0.0.0/8 over plain
# HTTP by default); its own config, without the package's htpasswd auth.
start_registry() {
  curl -fsS -o /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && return
  need_root
  log "starting a registry on 127.0.0.1:5000"
  mkdir -p /var/lib/hoster-testenv-registry
  cat >/var/lib/hoster-testenv-registry/config.yml <<'YAML'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/hoster-testenv-registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
YAML
  nohup docker-registry serve /var/lib/hoster-testenv-registry/config.yml \
    >/var/log/hoster-testenv-registry.log 2>&1 &
  for _ in $(seq 1 30); do
    curl -fsS -o /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && return
    sleep 1
  done
  log "the registry did not come up; see /var/log/hoster-testenv-registry.log"
  exit 1
}

# The hash of the build context a stand-in was built from; empty for any other image.
stand_in_hash() {
  local got
  got=$(docker image inspect --format '{{ index .Config.Labels "io.hoster.testenv.hash" }}' "$1" 2>/dev/null) || return 0
  [ "$got" = "<no value>" ] || printf '%s' "$got"
}

# An image is current when it carries the hash of the build context it was built from.
have_image() { # have_image TAG [HASH]
  [ -z "${HOSTER_TESTENV_REBUILD:-}" ] || return 1
  local got
  got=$(stand_in_hash "$1")
  [ -n "$got" ] || return 1
  [ -z "${2:-}" ] || [ "$got" = "$2" ]
}

# Whether TAG is a real image (on the engine without the stand-in label, or pullable): then no
# stand-in is built under its name.
real_image() {
  if docker image inspect "$1" >/dev/null 2>&1; then
    [ -z "$(stand_in_hash "$1")" ] && { log "keeping $1: a real image of that name is on the engine"; return 0; }
    return 1
  fi
  timeout 120 docker pull -q "$1" >/dev/null 2>&1 && { log "pulled the real $1"; return 0; }
  return 1
}

# A Debian rootfs with the real servers, imported once; nginx, redis and postgres build on it.
build_base() {
  [ -z "${HOSTER_TESTENV_REBUILD:-}" ] && docker image inspect hoster-testenv/base:bookworm >/dev/null 2>&1 && return
  local dir
  dir=$(mktemp -d /tmp/hoster-rootfs.XXXXXX)
  log "debootstrap bookworm into $dir (about a minute)"
  debootstrap --variant=minbase --include=nginx-light,curl,redis-server,postgresql-15,ca-certificates \
    bookworm "$dir" >/tmp/hoster-testenv-debootstrap.log 2>&1 \
    || { tail -20 /tmp/hoster-testenv-debootstrap.log >&2; exit 1; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc "$dir"/usr/share/man
  tar -C "$dir" -c . | docker import -c 'LABEL io.hoster.testenv.hash=base' - hoster-testenv/base:bookworm >/dev/null
  rm -rf "$dir"
}

build() { # build TAG DIR [extra context files...]
  local tag=$1 dir=$2 hash
  local from
  from=$(awk '/^FROM/ {print $2; exit}' "$dir/Dockerfile")
  # The context and the image it builds FROM: a rebuilt base rebuilds what stands on it.
  hash=$( { cat "$dir"/*; [ "$from" = scratch ] || docker image inspect --format '{{.Id}}' "$from"; } | sha256sum | cut -c1-16)
  real_image "$tag" && return
  have_image "$tag" "$hash" && return
  log "building the stand-in $tag"
  local ctx
  ctx=$(mktemp -d)
  cp -r "$dir"/. "$ctx"/
  shift 2
  for extra in "$@"; do cp "$extra" "$ctx"/; done
  docker build -q --label "io.hoster.testenv.hash=$hash" \
    --label "io.hoster.testenv.stand-in=local test stand-in for $tag, built by testenv/setup.sh" \
    -t "$tag" "$ctx" >/tmp/hoster-testenv-build.log 2>&1 \
    || { cat /tmp/hoster-testenv-build.log >&2; exit 1; }
  rm -rf "$ctx"
}

case "${1:-all}" in
  engine)
    # What Hoster itself needs: the engine, nothing of the tests'.
    command -v dockerd >/dev/null || install docker.io
    start_engine
    exit 0
    ;;
  image)
    shift
    build "$@"
    exit 0
    ;;
esac

# The backup tests' S3-compatible store: moto's server, from PyPI, in a venv of its own.
install_moto() {
  local venv="$here/../target/moto-venv"
  [ -x "$venv/bin/moto_server" ] && return
  log "installing moto[server] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'moto[server]'
}

install_packages
install_moto
start_engine
start_registry
build busybox:latest "$here/images/busybox" /bin/busybox
build traefik/whoami:latest "$here/images/whoami"
build adminer:latest "$here/images/adminer"
build_base
build nginx:alpine "$here/images/nginx"
build redis:alpine "$here/images/redis"
build postgres:15-alpine "$here/images/postgres"
build python:3-slim "$here/images/python"   # apt-get inside: needs Debian's mirror
log "ready: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort | tr '\n' ' ')"
