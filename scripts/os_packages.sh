#!/usr/bin/env bash
# Debian packages the tests need and pip cannot install: a Java runtime for the Spark parity test
# (pyspark starts a JVM) and Chromium for the browser tests (Dagster UI, usage statements).
# Installs only what is missing; needs root (or sudo) and Debian's package archive.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "error: need root to install Debian packages: ${missing[*]}" >&2
        echo "       install them yourself (apt-get install ${missing[*]}) and run this again" >&2
        exit 1
    fi
fi

echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
