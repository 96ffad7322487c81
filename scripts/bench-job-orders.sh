#!/usr/bin/env bash
# Job listings at a deployment's size, on loopback, bounded in time (10 s per query).
#
# Seeds a fresh PostgreSQL database by SQL with JOBS finished jobs and their outcomes over
# PROVIDERS providers (one more pending job each), starts the release API on it, and runs each
# listing an operator pages through with wrk (16 connections): newest first, by finish, by
# duration, each for every provider and for one, and a second page by duration. Prints
# requests/s, p50 and p99 per listing.
#
#   scripts/bench-job-orders.sh                       # 2M jobs, 2,000 providers
#   JOBS=10000000 PROVIDERS=5000 scripts/bench-job-orders.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/jobs.sh
. scripts/lib/jobs.sh

JOBS="${JOBS:-2000000}"
PROVIDERS="${PROVIDERS:-2000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
PG="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
bin="$CARGO_TARGET_DIR/release"
token="bench-viewer-token-0123456789abcdef"
port=18911
db="fever_jobs_bench"
url="$PG/$db?sslmode=disable"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

echo "building (release)..."
cargo build --quiet --release -p graphql-api -p ingestor --bins

work="$(mktemp -d)"
api=""
cleanup() {
    [ -z "$api" ] || kill "$api" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
    psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}
trap cleanup EXIT

echo "seeding $JOBS jobs over $PROVIDERS providers..."
started=$(date +%s)
psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
DATABASE_URL="$url" "$bin/ingestor" migrate >/dev/null
seed_jobs "$url" "$JOBS" "$PROVIDERS"
echo "seeded in $(( $(date +%s) - started )) s"

DATABASE_URL="$url" API_TOKENS="bench:viewer:$token" RUST_LOG=warn taskset -c 0 \
    "$bin/graphql-api" serve --listen "127.0.0.1:$port" >/dev/null 2>"$work/api.log" &
api=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done

graphql() { # query -> answer
    graphql_at "http://127.0.0.1:$port" "$token" "$1"
}

run() { # label query
    local label=$1 query=$2 answer
    answer="$(graphql "$query")"
    python3 -c '
import json, sys
answer = json.loads(sys.argv[1])
assert not answer.get("errors") and len(answer["data"]["jobs"]["nodes"]) == 50, answer' "$answer" ||
        { echo "wrong answer for $label" >&2; exit 1; }
    local rps p50 p99
    read -r rps p50 p99 <<<"$(wrk_graphql "http://127.0.0.1:$port" "$token" "$query")"
    printf "%-44s %10s %10s %10s\n" "$label" "$rps" "$p50" "$p99"
}

nodes="nodes { databaseId state finishedAt outcome { durationMs } }"
printf "%-44s %10s %10s %10s\n" "jobs(first: 50), $JOBS jobs" "requests/s" "p50" "p99"
run "newest first" "{ jobs(first: 50) { $nodes } }"
run "by finish, latest first" "{ jobs(orderBy: {field: FINISHED_AT}, first: 50) { $nodes } }"
run "by finish, earliest first" "{ jobs(orderBy: {field: FINISHED_AT, direction: ASC}, first: 50) { $nodes } }"
run "by duration, longest first" "{ jobs(orderBy: {field: DURATION}, first: 50) { $nodes } }"
run "by duration, shortest first" "{ jobs(orderBy: {field: DURATION, direction: ASC}, first: 50) { $nodes } }"
run "one provider, newest first" "{ jobs(filter: {provider: \"p7\"}, first: 50) { $nodes } }"
run "one provider, by finish" "{ jobs(filter: {provider: \"p7\"}, orderBy: {field: FINISHED_AT}, first: 50) { $nodes } }"
run "one provider, by duration" "{ jobs(filter: {provider: \"p7\"}, orderBy: {field: DURATION}, first: 50) { $nodes } }"
run "failed, by duration" "{ jobs(filter: {state: FAILED}, orderBy: {field: DURATION}, first: 50) { $nodes } }"
cursor="$(graphql "{ jobs(orderBy: {field: DURATION}, first: 50) { pageInfo { endCursor } } }" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["jobs"]["pageInfo"]["endCursor"])')"
run "by duration, second page" "{ jobs(orderBy: {field: DURATION}, first: 50, after: \"$cursor\") { $nodes } }"
