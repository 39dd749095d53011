#!/usr/bin/env bash
# Generates a development CA and a leaf certificate for localhost,
# meridian.test, 127.0.0.1 and ::1. Idempotent: existing files are kept unless
# --force is given. Private keys never leave this directory (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"

if [[ "${1:-}" != "--force" && -f localhost.crt && -f localhost.key && -f ca.crt \
      && -f origin.crt && -f edge-client.crt ]]; then
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

# Mutual TLS between edge and origins (optional, see deploy/README.md):
# the origins' server certificate and the edge's client certificate.
issue() { # name, extendedKeyUsage, subjectAltName
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$2" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -sha256 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext" ca.srl
}
issue origin serverAuth DNS:origin.meridian.internal
issue edge-client clientAuth DNS:edge.meridian.internal
chmod 644 ca.crt localhost.crt origin.crt edge-client.crt
echo "certs: wrote ca.crt, localhost.{crt,key}, origin.{crt,key}, edge-client.{crt,key} in $(pwd)"
