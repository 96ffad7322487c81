#!/usr/bin/env bash
# Vendors GraphiQL and React from npm into graphql-api/assets/graphiql/, gzipped: the IDE at
# GET /graphql is served from the binary and never loads anything from elsewhere.
#
#   scripts/vendor-graphiql.sh            # the versions below; needs npm and the registry
#
# To upgrade, change a version, run this, and check the page with scripts/browser-test.sh.
# graphiql 3.x is the last line with a UMD build (4.x and later are ES modules only).
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=3.8.3
REACT=18.3.1
out=graphql-api/assets/graphiql
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for package in graphiql-$GRAPHIQL react-$REACT react-dom-$REACT; do
    mkdir -p "$tmp/$package"
    tar -xzf "$tmp/$package.tgz" -C "$tmp/$package"
done

rm -f "$out"/*.gz "$out"/LICENSE-*
gzip -9 -n -c "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.js" >"$out/graphiql.min.js.gz"
gzip -9 -n -c "$tmp/graphiql-$GRAPHIQL/package/graphiql.min.css" >"$out/graphiql.min.css.gz"
gzip -9 -n -c "$tmp/react-$REACT/package/umd/react.production.min.js" >"$out/react.production.min.js.gz"
gzip -9 -n -c "$tmp/react-dom-$REACT/package/umd/react-dom.production.min.js" >"$out/react-dom.production.min.js.gz"
cp "$tmp/graphiql-$GRAPHIQL/package/LICENSE" "$out/LICENSE-graphiql"
cp "$tmp/react-$REACT/package/LICENSE" "$out/LICENSE-react"
cp "$tmp/react-dom-$REACT/package/LICENSE" "$out/LICENSE-react-dom"
cat >"$out/VERSIONS" <<VERSIONS
graphiql $GRAPHIQL
react $REACT
react-dom $REACT
VERSIONS
ls -l "$out"
