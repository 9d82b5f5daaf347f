#!/bin/sh
# Regenerate the autotools files: run once after a fresh clone.
set -e
cd "$(dirname "$0")"
autoreconf -fi
