#!/usr/bin/env bash
# Install what building and testing vsampd needs, from Debian's packages
# only. Idempotent: does nothing when everything is already installed.
# Run as root (or with sudo) on Debian 12.
set -euo pipefail

PKGS=(
	build-essential autoconf automake libtool pkg-config clang
	librdkafka-dev libcurl4-openssl-dev libmsgpack-dev libconfig-dev
	check libjansson-dev libmicrohttpd-dev libsystemd-dev
	python3 python3-msgpack python3-confluent-kafka kcat
	maven openjdk-17-jre-headless valgrind
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
