#!/usr/bin/env bash
# The README's test command. Installs what building and the browser tests
# need (deploy/local/prereqs.sh --browser: build tools, C headers, Chromium,
# ChromeDriver, axe-core), then runs every test of the workspace.
#
#   deploy/local/test.sh                                  # cargo test --workspace
#   deploy/local/test.sh -p meridian-e2e --test storefront_e2e   # any cargo test arguments
#
# Real-backend suites run when MERIDIAN_TEST_* are set (deploy/local/backends.sh
# env); with MERIDIAN_REQUIRE_BACKENDS=1 a missing backend or browser fails.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
deploy/local/prereqs.sh --browser
if (($#)); then
  exec cargo test "$@"
fi
exec cargo test --workspace
