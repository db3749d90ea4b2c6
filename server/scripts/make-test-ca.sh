#!/usr/bin/env bash
# A throwaway certificate authority and a server certificate it signed, for benchmarks on loopback: writes
# ca.pem, server.pem (localhost and 127.0.0.1, valid 2 days) and server.key (P-256) into DIR.
# Used by ab-cpu.sh (TLS=1) and bench-vs-redis.sh (the tls section). Needs the openssl CLI.
# usage: server/scripts/make-test-ca.sh DIR
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,5p' "$0" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-test-ca.sh needs the openssl CLI (Debian: apt-get install openssl)" >&2; exit 1; }
mkdir -p "$1"
cd "$1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=pincore benchmark authority" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
  -extfile ext 2>/dev/null
rm -f server.csr ext ca.srl
