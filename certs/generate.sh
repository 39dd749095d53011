#!/usr/bin/env bash
# Generates a development CA and a leaf certificate for localhost,
# meridian.test, 127.0.0.1 and ::1. Idempotent: existing files are kept unless
# --force is given. Private keys never leave this directory (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"

if [[ "${1:-}" != "--force" && -f localhost.crt && -f localhost.key && -f ca.crt ]]; then
  exit 0
fi
command -v openssl >/dev/null || { echo "certs/generate.sh: openssl is required" >&2; exit 1; }

umask 077
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 825 -subj "/CN=Meridian Dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt 2>/dev/null

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out localhost.key 2>/dev/null
openssl req -new -key localhost.key -subj "/CN=localhost" -out localhost.csr 2>/dev/null
cat > leaf.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:meridian.test,DNS:*.meridian.test,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in localhost.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -sha256 \
  -extfile leaf.ext -out localhost.crt 2>/dev/null
rm -f localhost.csr leaf.ext ca.srl
chmod 644 ca.crt localhost.crt
echo "certs: wrote ca.crt, localhost.crt, localhost.key in $(pwd)"
