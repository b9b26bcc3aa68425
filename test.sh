#!/usr/bin/env bash
# Runs every test, with the race detector, on a fresh Debian machine too:
# installs what is missing (redis-server), starts a real Redis on a free
# loopback port for the store tests, and stops it at the end.
#
#   ./test.sh              everything
#   ./test.sh ./flows/...  only some packages (extra args go to go test)
set -euo pipefail
cd "$(dirname "$0")"

need_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  echo "test.sh: redis-server is missing; installing Debian's package" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

if [ -z "${SUPPORTBOT_TEST_REDIS:-}" ]; then
  if ! need_redis; then
    echo "test.sh: could not install redis-server" >&2
    [ "${CI:-}" = "true" ] && exit 1
  fi
  if command -v redis-server >/dev/null 2>&1; then
    port=$(free_port)
    dir=$(mktemp -d)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    trap 'kill "$(cat "$dir/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
    for _ in $(seq 50); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    export SUPPORTBOT_TEST_REDIS="redis://127.0.0.1:$port/0"
    echo "test.sh: redis-server on 127.0.0.1:$port" >&2
  fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
if [ $# -gt 0 ]; then
  go test -race -count=1 "$@"
else
  go test -race -count=1 ./...
fi
