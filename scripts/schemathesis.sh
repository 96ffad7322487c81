#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against docs/openapi.yaml and the live GET /search of the
# whole system (the `fever` binary on a fresh embedded database with the demo feeds), then
# against its GraphQL schema (read by introspection) with the demo's admin token, checking
# that every error carries a client-facing code (`graphql_error_codes` in hooks.py), never
# INTERNAL. Loopback only; bounded in time; stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
if ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

target="${CARGO_TARGET_DIR:-target}"
case $target in /*) ;; *) target="$PWD/$target" ;; esac
cargo build --quiet -p fever
work="$(mktemp -d)"
log="$work/fever.out"
(cd "$work" && RUST_LOG=warn exec "$target/debug/fever" --listen 127.0.0.1:0 >"$log" 2>"$work/fever.err") &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

base=""
for _ in $(seq 1 100); do
    base="$(sed -n 's|.*GraphiQL: *\(http://[^/]*\)/graphql.*|\1|p' "$log" | head -1)"
    [ -n "$base" ] && break
    sleep 0.2
done
[ -n "$base" ] || { echo "fever did not start"; cat "$work/fever.err"; exit 1; }
# Wait until the demo feeds are searchable, so responses carry events.
for _ in $(seq 1 100); do
    curl -sf "$base/search" | grep -q '"title"' && break
    sleep 0.2
done

SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/schemathesis \
    timeout 300 schemathesis --config-file scripts/schemathesis/schemathesis.toml \
    run docs/openapi.yaml --url "$base" --checks all --max-examples 300 --no-color

# GraphQL: every query and mutation, with generated arguments and selections, as an admin.
SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/schemathesis \
    timeout 300 schemathesis --config-file scripts/schemathesis/schemathesis.toml \
    run "$base/graphql" -H "Authorization: Bearer demo-admin-token" \
    --checks graphql_error_codes --max-examples 100 --no-color
