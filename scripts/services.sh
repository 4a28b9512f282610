#!/usr/bin/env bash
# Install the Debian packages of the servers the tests start on 127.0.0.1 (PostgreSQL, OpenLDAP
# slapd) when they are missing and we may install them (root). Otherwise those tests skip with
# their reason on a developer's machine (and fail under CI=true).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v slapd >/dev/null 2>&1 || [[ -x /usr/sbin/slapd ]] || missing+=(slapd)
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: ${missing[*]} not installed; their tests will skip (install them to run them)" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
