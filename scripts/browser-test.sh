#!/usr/bin/env bash
# Browser test of the job-monitoring page (`/`) and of GraphiQL (`GET /graphql`): seeds a
# throwaway SQLite database with the real binaries, serves it with graphql-api, and drives both
# pages in headless Chromium (Debian's, through playwright-core; no browser download).
#
#   scripts/browser-test.sh [SCREENSHOT]   (default: target/browser/monitor.png)
#
# SCREENSHOT shows the page with the viewer token; SCREENSHOT's name with `-no-token` shows it
# as it first opens, asking for a token.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS

screenshot=${1:-target/browser/monitor.png}
case $screenshot in /*) ;; *) screenshot="$root/$screenshot" ;; esac
# Tokens are at least 16 characters: one admin (ADMIN_TOKEN) and one viewer (API_TOKENS).
admin_token=browser-test-admin-token
viewer_token=browser-test-viewer-token

step() { printf '\n==> %s\n' "$*"; }

if [[ ! -x /usr/bin/chromium ]]; then
    step "installing chromium (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

step "npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

step "cargo build -p graphql-api -p ingestor -p test-support"
cargo build --quiet -p graphql-api -p ingestor -p test-support --bins
target_dir=${CARGO_TARGET_DIR:-$root/target}
case $target_dir in /*) ;; *) target_dir="$root/$target_dir" ;; esac
ingestor=$target_dir/debug/ingestor
api=$target_dir/debug/graphql-api
simulator=$target_dir/debug/provider-simulator

tmp=$(mktemp -d)
server_pid=
simulator_pid=
cleanup() {
    if [[ -n $simulator_pid ]]; then kill "$simulator_pid" 2>/dev/null || true; fi
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$tmp/fever.db"
export RUST_LOG=warn
export LOG_FORMAT=text
# The seeded providers point at 127.0.0.1; the provider destination policy refuses loopback
# URLs unless told otherwise. (Before that policy exists, clap ignores the variable.)
export ALLOW_PRIVATE_PROVIDERS=true

step "seeding $DATABASE_URL"
# A worker that ran for a moment, before there was anything to collect: the page lists it,
# stopped.
WORKER_ID=browser-test-worker "$ingestor" run >"$tmp/worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 1 50); do
    grep -q "ingestor worker started" "$tmp/worker.log" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5
kill -TERM "$worker_pid"
wait "$worker_pid" || { echo "ingestor run did not stop cleanly:" >&2; cat "$tmp/worker.log" >&2; exit 1; }
# Nothing listens on port 9 (discard): each collection fails with a connect error, which
# gives failed jobs with outcomes.
export ALLOW_PRIVATE_PROVIDERS=true  # the providers are on loopback
"$ingestor" provider add alpha --url http://127.0.0.1:9/feed.xml
# beta backs off after its first failed collection: the page says until when.
"$ingestor" provider add beta --url http://127.0.0.1:9/beta.xml --time-zone Europe/Madrid --backoff-after 1
for provider in alpha beta; do
    status=0
    "$ingestor" collect "$provider" >"$tmp/collect-$provider.json" || status=$?
    if [[ $status -ne 1 ]]; then
        echo "ingestor collect $provider: expected exit 1 (a failed job), got $status" >&2
        cat "$tmp/collect-$provider.json" >&2
        exit 1
    fi
    echo "collect $provider: $(head -c 300 "$tmp/collect-$provider.json")"
done
# alpha is expected to succeed within a second: the page shows it overdue.
"$ingestor" provider add alpha --freshness-ms 1000

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
base=http://127.0.0.1:$port

step "serving on $base"
ADMIN_TOKEN=$admin_token API_TOKENS="viewer:viewer:$viewer_token" \
    "$api" serve --listen "127.0.0.1:$port" >"$tmp/api.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/livez" >/dev/null 2>&1 && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "graphql-api exited early:" >&2
        cat "$tmp/api.log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS "$base/livez" >/dev/null

step "driving the page in headless Chromium"
mkdir -p "$(dirname "$screenshot")"
status=0
timeout 120 node tests/browser/monitor.spec.mjs "$base" "$admin_token" "$viewer_token" "$screenshot" \
    || status=$?
if [[ $status -ne 0 ]]; then
    echo "--- graphql-api log ---" >&2
    tail -n 50 "$tmp/api.log" >&2
    exit "$status"
fi
step "GraphiQL: seeding provider gamma with fixtures/feeds/response_1.xml"
"$simulator" fixtures/feeds/response_1.xml >"$tmp/simulator.out" 2>&1 &
simulator_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$tmp/simulator.out" 2>/dev/null && break
    sleep 0.1
done
feed_url="$(sed -n 's/^listening on //p' "$tmp/simulator.out")/feed.xml"
"$ingestor" provider add gamma --url "$feed_url"
"$ingestor" collect gamma >"$tmp/collect-gamma.json"
# The API's index follows the database; on SQLite it polls.
for _ in $(seq 1 100); do
    [[ $(curl -fsS "$base/search?starts_at=2021-01-01T00:00:00Z&ends_at=2031-01-01T00:00:00Z") == *'"title"'* ]] && break
    sleep 0.2
done

step "driving GraphiQL in headless Chromium"
status=0
timeout 100 node tests/browser/graphiql.spec.mjs "$base" "$(dirname "$screenshot")/graphiql.png" \
    || status=$?
if [[ $status -ne 0 ]]; then
    echo "--- graphql-api log ---" >&2
    tail -n 50 "$tmp/api.log" >&2
    exit "$status"
fi
step "pausing delta: a provider that pauses after its first failed collection"
"$ingestor" provider add delta --url http://127.0.0.1:9/delta.xml --pause-after 1
status=0
"$ingestor" collect delta >"$tmp/collect-delta.json" || status=$?
if [[ $status -ne 1 ]]; then
    echo "ingestor collect delta: expected exit 1 (a failed job), got $status" >&2
    cat "$tmp/collect-delta.json" >&2
    exit 1
fi
gamma_job=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).job_id)' \
    "$tmp/collect-gamma.json")

step "driving job #$gamma_job's page (what changed) in headless Chromium"
status=0
timeout 60 node tests/browser/job-changes.spec.mjs "$base" "$viewer_token" "$gamma_job" delta \
    "$(dirname "$screenshot")/monitor-job-changes.png" || status=$?
if [[ $status -ne 0 ]]; then
    echo "--- graphql-api log ---" >&2
    tail -n 50 "$tmp/api.log" >&2
    exit "$status"
fi
echo "browser test passed in $((SECONDS - started)) s"
