#!/usr/bin/env bash
# Vigia's whole test suite: static checks, unit and integration tests (with
# the race detector), and every detection rule's own tests.
# Usage: test/run.sh        (from anywhere in the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

# Integration tests that need Redis start redis-server from PATH on a free
# port; install it when missing (Debian/Ubuntu).
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "test/run.sh: installing redis-server" >&2
    $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq redis-server >/dev/null \
      || echo "test/run.sh: could not install redis-server; tests that need it will fail" >&2
  else
    echo "test/run.sh: redis-server not found and apt-get unavailable; install Redis" >&2
  fi
fi

# With redis-server present, tests that need it must not skip silently.
if command -v redis-server >/dev/null 2>&1; then
  export VIGIA_REQUIRE_REDIS=1
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test"
go test -race -count=1 ./...
echo "== vigia rules lint"
go run ./cmd/vigia rules lint --rules detections
echo "== vigia rules test"
go run ./cmd/vigia rules test --rules detections
