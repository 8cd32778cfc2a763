#!/usr/bin/env bash
# Installs the Debian 12 packages ECM needs to build, test and run its dev
# stack, with apt-get only. `--deploy` adds what scripts/deploy-check.sh
# needs to build and run the container images (podman and friends, ~60 MB;
# not in the default install). Idempotent: installed packages are skipped, and
# package lists younger than a day are not refreshed. apt's output goes to
# .dev/logs/apt.log; one line a step here.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log_dir=${ECM_DEV_DIR:-$root/.dev}/logs
log=$log_dir/apt.log
mkdir -p "$log_dir"

packages=(
    # build
    build-essential cmake pkg-config clang-format
    # clang: the tree builds warning-free with it too; libFuzzer harnesses
    clang-15 libfuzzer-15-dev
    # libraries
    librdkafka-dev libpq-dev libcurl4-openssl-dev unixodbc unixodbc-dev odbc-postgresql
    libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev libcmocka-dev libcsv-dev
    libjansson-dev libyajl-dev libssl-dev uuid-dev libxml2-dev libphonenumber-dev libicu-dev
    libre2-dev  # a number's type: libphonenumber's patterns matched by RE2 (lib/rules/ecm_phone_lookup.cc)
    libsodium-dev  # Argon2id: console users' passwords (gateway)
    libprotobuf-dev
    # dev stack and tools
    postgresql postgresql-client kannel kannel-extras kcat jq curl ca-certificates procps
    # e2e: protoc --decode reads Kafka payloads with nothing but the .proto
    protobuf-compiler
    # flakiness checks: tests run while stress-ng keeps a core busy
    stress-ng
    # e2e test clients written with nothing but the standard library
    python3
    # API documents (scripts/check-api.sh): asyncapi.yaml generated from the
    # .proto's descriptor set; responses checked against openapi.yaml
    python3-protobuf python3-yaml python3-jsonschema
    # the console's browser tests (tests/browser): Debian's chromium, driven
    # by playwright-core from the npm lock file; a font for its screenshots
    chromium fonts-dejavu-core
    # deploy files (scripts/check-deploy.sh): docker-compose validates
    # deploy/docker-compose.yml. kubectl (kustomize) and promtool come from
    # the Debian packages kubernetes-client and prometheus, unpacked under
    # .dev/tools by check-deploy.sh: installing prometheus would start a
    # server, and kubernetes-client conflicts with other kubectl packages.
    docker-compose
)
if [[ ${1:-} == --deploy ]]; then
    # Images and the dev overlay in podman (scripts/image.sh, deploy-check.sh):
    # netavark + aardvark-dns give pods DNS names (netavark needs iptables for
    # a bridge network: without it every pod fails "netavark: No such file or
    # directory"), catatonit the pause image.
    packages+=(podman runc debootstrap catatonit netavark aardvark-dns iptables)
fi
# node + npm run the API linters (@asyncapi/parser, @redocly/cli, installed by
# `npm ci` from package-lock.json). Debian 12's nodejs (18) and npm are taken
# only when no node is installed: a machine with nodesource's nodejs (which
# bundles npm and conflicts with Debian's npm) is left as it is.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi

say() { printf 'install-deps: %s\n' "$*"; }

sudo=()
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || {
        say "not root and no sudo: run as root" >&2
        exit 1
    }
    sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    say "all ${#packages[@]} packages present"
    exit 0
fi

# Debian's package lists count as fresh for a day.
fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null || true)
if [[ -z $fresh ]]; then
    say "apt-get update (log: $log)"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        say "apt-get update failed" >&2
        exit 1
    fi
else
    say "package lists are fresh, no update"
fi

say "apt-get install ${missing[*]} (log: $log)"
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "apt-get install failed" >&2
    exit 1
fi
say "done: ${#missing[@]} installed"
