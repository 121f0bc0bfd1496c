#!/usr/bin/env bash
# Two instances behind no load balancer, to try horizontal scaling by hand:
# one at http://localhost:5000 and one at http://localhost:5001, sharing one
# Redis. Open a session on one port and its invite on the other; ask for a
# report on either and watch whichever instance runs the job.
#
# Without REDIS_URL it starts a redis-server on port 6381 with its data in
# .redis/scale/ (kept across runs, ignored by git). Ctrl-C stops both
# instances and that Redis. Builds with `cargo leptos build` first unless
# SKIP_BUILD=1; scripts/dev.sh installs what the build needs.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "cargo leptos build"
  cargo leptos build
fi
if [ ! -x target/debug/server ] || [ ! -d target/site/pkg ]; then
  echo "target/debug/server or target/site/pkg is missing: run without SKIP_BUILD=1" >&2
  exit 1
fi

pids=()
redis_pid=""
stop() {
  trap - INT TERM EXIT
  # SIGTERM first: each instance closes its sockets with "going away" and
  # hands unfinished jobs back before it exits.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$redis_pid" ]; then
    say "stopping the Redis this script started"
    kill -TERM "$redis_pid" 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT

if [ -z "${REDIS_URL:-}" ]; then
  port=6381
  data="$PWD/.redis/scale"
  mkdir -p "$data"
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    say "using the redis-server already on port $port"
  else
    say "starting redis-server on port $port (data in .redis/scale/)"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$data" --appendonly yes \
      --daemonize yes --pidfile "$data/redis.pid" --logfile "$data/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis_pid="$(cat "$data/redis.pid")"
  fi
  export REDIS_URL="redis://127.0.0.1:$port"
fi

# Each instance's lines carry its name, so the two logs can share a terminal.
for listen in 5000 5001; do
  name="instance-$listen"
  say "starting $name on http://localhost:$listen"
  LISTEN_ADDR="127.0.0.1:$listen" INSTANCE_ID="$name" LEPTOS_SITE_ROOT=target/site \
    target/debug/server > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!")
done

say "both instances are up; metrics at /metrics, readiness at /readyz; Ctrl-C stops them"
wait
