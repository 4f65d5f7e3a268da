#!/usr/bin/env bash
# Make a throwaway certificate authority and certificates for trying out TLS
# (tls.conf) and certificate-mapped users (permissions.conf) on one machine.
# Not for production: the CA key sits next to the certificates, unencrypted.
#
#   deploy/nats/make-dev-certs.sh [DIR]        (default DIR: ./certs)
#
# Writes into DIR:
#   ca.pem, ca-key.pem                 the CA (kept and reused when present)
#   server-cert.pem, server-key.pem    for nats-server: localhost and 127.0.0.1,
#                                      plus SERVER_SANS (see below)
#   <role>-cert.pem, <role>-key.pem    a client certificate per role, subject
#                                      "CN=<role>,O=task-scheduler", for
#                                      TASK_SCHEDULER_TLS_CERT / _KEY and the
#                                      `nats` CLI (--tlscert/--tlskey)
#
# Environment:
#   ROLES         client roles to make certificates for
#                 (default: "client scheduler worker monitor admin")
#   SERVER_SANS   extra subjectAltName entries for the server certificate,
#                 comma-separated, e.g. "DNS:nats-1.example.internal,IP:10.0.0.5"
#   DAYS          validity of the leaf certificates (default 365)
#
# Needs openssl (1.1.1 or 3.x).
set -euo pipefail

dir="${1:-certs}"
roles="${ROLES:-client scheduler worker monitor admin}"
days="${DAYS:-365}"
server_sans="DNS:localhost,IP:127.0.0.1${SERVER_SANS:+,$SERVER_SANS}"

command -v openssl >/dev/null || { echo "make-dev-certs: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ -f ca.pem && -f ca-key.pem ]]; then
  echo "make-dev-certs: reusing the CA in $dir/ca.pem"
else
  newkey ca-key.pem
  cat >"$work/ca.ext" <<'EOF'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -new -key ca-key.pem -subj "/O=task-scheduler/CN=task-scheduler dev CA" -out "$work/ca.csr"
  openssl x509 -req -in "$work/ca.csr" -signkey ca-key.pem -days 3650 -sha256 \
    -extfile "$work/ca.ext" -out ca.pem 2>/dev/null
  echo "make-dev-certs: made a CA in $dir/ca.pem"
fi

# sign NAME SUBJECT EXTENSIONS-FILE
sign() {
  newkey "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "$2" -out "$work/$1.csr"
  openssl x509 -req -in "$work/$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -CAserial "$work/ca.srl" -days "$days" -sha256 -extfile "$3" -out "$1-cert.pem" 2>/dev/null
}

# The server certificate also carries clientAuth so that the same pair can
# secure cluster routes (each server is a client of the others there).
cat >"$work/server.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $server_sans
EOF
sign server "/O=task-scheduler/CN=nats-server" "$work/server.ext"
echo "make-dev-certs: server certificate for $server_sans"

# Client certificates have no subjectAltName on purpose: with verify_and_map
# nats-server tries e-mail and DNS names first and the subject after, and
# permissions.conf names users by subject.
cat >"$work/client.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
for role in $roles; do
  [[ "$role" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "make-dev-certs: bad role name: $role" >&2; exit 1; }
  sign "$role" "/O=task-scheduler/CN=$role" "$work/client.ext"
done
echo "make-dev-certs: client certificates for: $roles"

chmod 644 ./*.pem
chmod 600 ./*-key.pem
for f in server-cert.pem $(for r in $roles; do echo "$r-cert.pem"; done); do
  openssl verify -CAfile ca.pem "$f" >/dev/null
done
echo "make-dev-certs: all certificates verify against $dir/ca.pem"
