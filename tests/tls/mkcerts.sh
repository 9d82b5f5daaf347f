#!/usr/bin/env bash
#
# mkcerts.sh DIR: throw-away certificates for the TLS tests, made with the
# openssl CLI at test time (no key is ever committed). EC P-256 keys,
# valid for two days, every server certificate for 127.0.0.1.
#
#   ca.pem ca.key               the test CA ("vsampd test CA")
#   other-ca.pem other-ca.key   an unrelated CA ("vsampd other CA")
#   server.pem server.key       from the test CA; SAN IP:127.0.0.1,
#                               DNS:localhost
#   rogue.pem rogue.key         the same names, from the other CA
#   wrongsan.pem wrongsan.key   from the test CA, SAN DNS:wrong.invalid
#   broker.pem                  server.key then server.pem then ca.pem:
#                               a Kafka PEM keystore (ssl.keystore.type=PEM)
#
# Prints "CERTS DIR" when done.

set -eu
set -o pipefail

die() {
	echo "mkcerts.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: mkcerts.sh DIR"
command -v openssl >/dev/null 2>&1 || die "openssl not found"
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null
}

# ca NAME CN
ca() {
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days 2 -subj "/CN=$2" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" \
	    -out "$1.pem"
}

# leaf NAME CA SAN
leaf() {
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/CN=vsampd test $1" \
	    -out "$1.csr"
	cat >"$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$3
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
	    -CAcreateserial -sha256 -days 2 -extfile "$1.ext" \
	    -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

ca ca "vsampd test CA"
ca other-ca "vsampd other CA"
leaf server ca "IP:127.0.0.1,DNS:localhost"
leaf rogue other-ca "IP:127.0.0.1,DNS:localhost"
leaf wrongsan ca "DNS:wrong.invalid"
cat server.key server.pem ca.pem >broker.pem
openssl verify -CAfile ca.pem server.pem wrongsan.pem >/dev/null ||
    die "verification of the new certificates failed"
echo "CERTS $(pwd)"
