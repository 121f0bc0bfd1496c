#!/usr/bin/env bash
# Quick start, command 1: installs what is missing and runs the app at
# http://localhost:5000. Without REDIS_URL (in the environment or in .env) it
# starts a local redis-server on port 6380 that keeps its data in .redis/.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/setup.sh app
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [ -z "${REDIS_URL:-}" ] && ! grep -qs '^REDIS_URL=' .env; then
  port=6380
  mkdir -p .redis
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "==> starting redis-server on port $port (data in .redis/)"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/.redis" \
      --appendonly yes --daemonize yes --pidfile "$PWD/.redis/redis.pid" \
      --logfile "$PWD/.redis/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export REDIS_URL="redis://127.0.0.1:$port"
fi

exec cargo leptos watch
