#!/usr/bin/env bash
# The monitoring page's own queries at a deployment's size, on loopback, bounded in time
# (10 s per query).
#
# Seeds a fresh PostgreSQL database by SQL with JOBS finished jobs and their outcomes over
# PROVIDERS providers (one more pending job each), then applies the provider health migration
# to them (timed: what an upgrade of such a deployment costs), starts the release API and runs
# each query the monitoring page sends with wrk (16 connections): every provider with its
# health, the first 50 jobs of one provider in one state, the job counts the page shows (all
# jobs, and one provider's by state), error groups, jobs by error kind and group, a provider's
# chart, the workers, and one job with its outcome. Prints requests/s, p50 and p99 per query.
#
#   scripts/bench-monitoring.sh                        # 10M jobs, 5,000 providers
#   JOBS=2000000 PROVIDERS=500 scripts/bench-monitoring.sh
#   NO_BUILD=1 scripts/bench-monitoring.sh             # with the release binaries already built
#   KEEP_DB=1 scripts/bench-monitoring.sh              # keep the seeded database afterwards, and
#                                                      # reuse it if it is there (no seeding)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/jobs.sh
. scripts/lib/jobs.sh

JOBS="${JOBS:-10000000}"
PROVIDERS="${PROVIDERS:-5000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
PG="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
bin="$CARGO_TARGET_DIR/release"
token="bench-viewer-token-0123456789abcdef"
port=18912
db="fever_monitoring_bench"
url="$PG/$db?sslmode=disable"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

if [ "${NO_BUILD:-}" != 1 ]; then
    echo "building (release)..."
    cargo build --quiet --release -p graphql-api -p ingestor --bins
fi

work="$(mktemp -d)"
api=""
cleanup() {
    [ -z "$api" ] || kill "$api" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
    [ "${KEEP_DB:-}" = 1 ] ||
        psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}
trap cleanup EXIT

if [ "${KEEP_DB:-}" = 1 ] && psql -Atq "$PG/postgres?sslmode=disable" \
    -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    echo "reusing the seeded database $db"
    DATABASE_URL="$url" "$bin/ingestor" migrate >/dev/null
else
    echo "seeding $JOBS jobs over $PROVIDERS providers..."
    started=$(date +%s)
    psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    DATABASE_URL="$url" "$bin/ingestor" migrate >/dev/null
    seed_jobs "$url" "$JOBS" "$PROVIDERS"
    # The health summaries and the job tally are filled by their migrations: undo them, to apply
    # them again below (what an upgrade of such a deployment costs).
    psql -q -v ON_ERROR_STOP=1 "$url" -c "DROP TABLE provider_health" -c "DROP TABLE job_tally" \
        -c "DELETE FROM seaql_migrations WHERE version IN ('m20261201_000008_provider_health', 'm20261201_000012_provider_health_last', 'm20261201_000013_job_tally')"
    echo "seeded in $(( $(date +%s) - started )) s"
    started=$(date +%s%N)
    DATABASE_URL="$url" "$bin/ingestor" migrate >/dev/null
    echo "the provider health and job tally migrations summed up $JOBS outcomes in $(( ($(date +%s%N) - started) / 1000000 )) ms"
fi

DATABASE_URL="$url" API_TOKENS="bench:viewer:$token" RUST_LOG=warn taskset -c 0 \
    "$bin/graphql-api" serve --listen "127.0.0.1:$port" >/dev/null 2>"$work/api.log" &
api=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done

graphql() { # query -> answer
    graphql_at "http://127.0.0.1:$port" "$token" "$1"
}

run() { # label query
    local label=$1 query=$2 answer
    # The answer on standard input: every provider's health is megabytes, past argv's limit.
    graphql "$query" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
assert not answer.get("errors") and answer.get("data"), str(answer)[:2000]' ||
        { echo "wrong answer for $label" >&2; exit 1; }
    local rps p50 p99
    read -r rps p50 p99 <<<"$(wrk_graphql "http://127.0.0.1:$port" "$token" "$query")"
    printf "%-52s %10s %10s %10s\n" "$label" "$rps" "$p50" "$p99"
}

health="health { lastJobState lastJobAt lastFinishedState lastFinishedAt lastSuccessAt consecutiveFailures successRate p95DurationMs windowJobs nextTickAt lastError { kind message at job { databaseId } } }"
job_id="$(graphql '{ jobs(filter: {provider: "p7"}, first: 1) { nodes { id } } }' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["jobs"]["nodes"][0]["id"])')"
printf "%-52s %10s %10s %10s\n" "the monitoring page's queries, $JOBS jobs" "requests/s" "p50" "p99"
run "providers with health ($PROVIDERS)" "{ providers { name enabled schedule timeZone url $health } }"
run "providers with health, a page of 50 (the page's poll)" "{ providers(first: 51, after: \"p2500\") { name enabled schedule timeZone url $health } }"
run "every provider's name (the page, once a minute)" "{ providers { name } }"
run "jobs of one provider in one state (none match), first 50" "{ jobs(filter: {provider: \"p7\", state: FAILED}, first: 50) { totalCount nodes { id state createdAt finishedAt outcome { status durationMs errorKind errorMessage } } } }"
run "jobs of a failing provider in one state, first 50" "{ jobs(filter: {provider: \"p11\", state: FAILED}, first: 50) { totalCount nodes { id state createdAt finishedAt outcome { status durationMs errorKind errorMessage } } } }"
run "count of every job" "{ jobs(first: 1) { totalCount } }"
run "counts of one provider's jobs by state (the page before)" "{ a: jobs(filter: {provider: \"p7\"}, first: 1) { totalCount } p: jobs(filter: {provider: \"p7\", state: PENDING}, first: 1) { totalCount } r: jobs(filter: {provider: \"p7\", state: RUNNING}, first: 1) { totalCount } c: jobs(filter: {provider: \"p7\", state: COMPLETED}, first: 1) { totalCount } f: jobs(filter: {provider: \"p7\", state: FAILED}, first: 1) { totalCount } }"
run "jobCounts of every provider, with asOf" "{ jobCounts { pending running completed failed total asOf } }"
run "jobCounts of one provider (the page now)" "{ jobCounts(provider: \"p7\") { pending running completed failed total asOf } }"
# The seed fails every tenth job: every job of p1, p11, p21, ... (with PROVIDERS a multiple of
# ten), none of p7's. p11 is a failing provider.
group="$(graphql '{ errorGroups(provider: "p11", first: 1) { nodes { id } } }' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["errorGroups"]["nodes"][0]["id"])')"
run "error groups of the last 24 h, first 10 (the page)" "{ errorGroups(first: 10) { edges { node { id kind message count firstSeen lastSeen provider { name } lastJob { databaseId } } } } }"
run "error groups of one provider over 30 days" "{ errorGroups(provider: \"p11\", from: \"$(date -u -d '30 days ago' +%FT%TZ)\", first: 10) { nodes { count } } }"
run "jobs of one error kind, first 50" "{ jobs(filter: {errorKind: TIMEOUT}, first: 50) { nodes { id outcome { errorKind } } } }"
run "jobs of one error kind, first 50, with totalCount" "{ jobs(filter: {errorKind: TIMEOUT}, first: 50) { totalCount nodes { id } } }"
run "jobs of one error group, first 50, with totalCount" "{ jobs(filter: {errorGroup: \"$group\"}, first: 50) { totalCount nodes { id outcome { errorKind } } } }"
run "a provider's chart, 24 h in 24 intervals (the page)" "{ jobChart(provider: \"p11\") { points { start jobs failures p95DurationMs } } }"
run "a provider's chart, 167 hours in 168 intervals" "{ jobChart(provider: \"p11\", from: \"$(date -u -d '167 hours ago' +%FT%TZ)\", intervals: 168) { points { jobs failures p95DurationMs } } }"
run "workers (20)" "{ workers { id state host startedAt lastHeartbeatAt runningJobs } }"
run "one job with its outcome" "{ job(id: \"$job_id\") { id state attempt createdAt startedAt finishedAt provider { name } outcome { status durationMs errorKind errorMessage httpStatus bytes seen inserted updated unchanged rejected } } }"

# A Prometheus scrape of /metrics (every provider's series), timed five times.
scrapes=()
for _ in 1 2 3 4 5; do
    scrapes+=("$(curl -s -o "$work/metrics.txt" -w '%{time_total}' "http://127.0.0.1:$port/metrics")")
done
printf "%-52s %s s each (%s lines, %s bytes)\n" "/metrics scrape" "${scrapes[*]}" \
    "$(wc -l <"$work/metrics.txt")" "$(wc -c <"$work/metrics.txt")"
