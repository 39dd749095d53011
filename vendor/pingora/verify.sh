#!/usr/bin/env bash
# Checks that each vendored Pingora crate is upstream's release with
# patches/*.patch applied in order — nothing more, nothing less — and with
# --tests runs the patched crates' own test suites (the modules the patches
# touch, and everything else that runs offline).
#
#   vendor/pingora/verify.sh [--tests]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VERSION=0.9.1
declare -A SHA256=(
  [pingora-core]=a535f47f65fdcb003f9e1df04cd18e614c128dfe9388acce3f211ae38ac14d68
  [pingora-proxy]=8e3d5670490740405ecc8c6f75c3fcbce4d24f7adaffb355ca44550e7918e358
)
WORK="$(mktemp -d /tmp/pingora-verify.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tree"

for crate in "${!SHA256[@]}"; do
  file="$WORK/$crate-$VERSION.crate"
  # Cargo's own download cache first (any registry index folder), then
  # crates.io, retried: a lookup that fails once must not fail CI.
  cached=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$VERSION.crate" 2>/dev/null | head -n 1 || true)
  if [[ -n $cached ]]; then
    cp "$cached" "$file"
  else
    curl -sfL --retry 5 --retry-delay 2 --retry-all-errors -o "$file" \
      "https://static.crates.io/crates/$crate/$crate-$VERSION.crate" \
      || { echo "verify: cannot download $crate $VERSION from crates.io" >&2; exit 1; }
  fi
  echo "${SHA256[$crate]}  $file" | sha256sum -c --quiet - \
    || { echo "verify: $crate $VERSION does not match the checksum Cargo.lock had" >&2; exit 1; }
  tar -xzf "$file" -C "$WORK/tree"
  mv "$WORK/tree/$crate-$VERSION" "$WORK/tree/$crate"
  rm -f "$WORK/tree/$crate/.cargo-ok"
done
for patch in "$HERE"/patches/*.patch; do
  (cd "$WORK/tree" && patch -p1 --quiet --forward < "$patch") \
    || { echo "verify: $(basename "$patch") does not apply" >&2; exit 1; }
done
status=0
for crate in "${!SHA256[@]}"; do
  if ! diff -r -q --exclude=target --exclude='*.orig' "$WORK/tree/$crate" "$HERE/$crate"; then
    echo "verify: vendor/pingora/$crate differs from upstream + patches" >&2
    status=1
  fi
done
[[ $status == 0 ]] || exit 1
echo "verify: vendor/pingora = pingora $VERSION + $(ls "$HERE"/patches/*.patch | wc -l) patches"

if [[ "${1:-}" == "--tests" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/meridian-target}/pingora"
  # The HTTP protocol and app modules (where patches 0001 and 0005 live)
  # and the connector's reuse test (0003) run in full; the connector's
  # other tests and TLS ones dial public hosts, which this machine cannot.
  # With rustls, as the edge builds them.
  cargo test --manifest-path "$HERE/Cargo.toml" -p pingora-core --features rustls --lib -- \
    --skip tls protocols::http apps connectors::tests::test_reuse_matches_the_cached_peer_address
  cargo test --manifest-path "$HERE/Cargo.toml" -p pingora-proxy --features rustls --lib
fi
