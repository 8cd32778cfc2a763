#!/usr/bin/env bash
# Container images of ECM, built on this machine with podman and no registry:
#   scripts/image.sh [base|ecm|kannel|postgres|all|podman-setup]   (default all)
#   base          localhost/debian-base:12 from Debian's archive (debootstrap
#                 --variant=minbase bookworm, then podman import); cached: made
#                 once, again only when removed or ECM_IMAGE_REBUILD_BASE=1
#   ecm           localhost/ecm:$ECM_IMAGE_TAG from deploy/Containerfile (one image,
#                 every service; the command picks the service)
#   kannel        localhost/ecm-kannel:$ECM_IMAGE_TAG (dev only: Kannel + fakesmsc)
#   postgres      localhost/ecm-postgres:15 (dev only: Debian's PostgreSQL 15)
#   podman-setup  runc and /etc/containers/containers.conf (idempotent)
# ECM_IMAGE_NO_CACHE=1 builds without podman's layer cache (a cold build).
# Needs root (debootstrap, podman run). Packages: scripts/install-deps.sh deploy.
# Log of each build: $ECM_DEV_DIR/logs/image-<name>.log.
set -euo pipefail
ECM_SCRIPT=image
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ECM_IMAGE_TAG=${ECM_IMAGE_TAG:-dev}
BASE_IMAGE=localhost/debian-base:12
logs=$ECM_DEV_DIR/logs
mkdir -p "$logs"

# The Debian archive this machine's apt uses (first URIs:/deb line), so that
# the image gets the same package versions as the build machine.
archive_url() {
    local url
    url=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{ print $2 }' |
        grep -v security | head -n 1 || true)
    [[ -n $url ]] || url=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '{ print $2 }' | grep -v security | head -n 1 || true)
    echo "${url:-http://deb.debian.org/debian}"
}

# runc, and podman's engine settings that this sandbox needs (crun's cgroup
# set-up and podman's default ulimits are refused). Rewrites the file only
# when a setting is missing; an existing file is kept as .orig once.
podman_setup() {
    local conf=/etc/containers/containers.conf
    command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null &&
        [[ -x /usr/lib/podman/netavark && -x /usr/lib/podman/aardvark-dns ]] ||
        ecm_die "podman/runc missing: scripts/install-deps.sh deploy"
    if [[ -f $conf ]] && grep -q '^runtime *= *"runc"' "$conf" &&
        grep -q 'default_ulimits *= *\[.*nofile=20000:20000' "$conf" &&
        grep -q '^network_backend *= *"netavark"' "$conf"; then
        return 0
    fi
    [[ ! -f $conf || -f $conf.orig ]] || cp "$conf" "$conf.orig"
    mkdir -p /etc/containers
    cat >"$conf" <<'CONF'
# Written by ECM's scripts/image.sh: podman as this machine needs it.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"

[network]
# netavark + aardvark-dns: pods on a user network find each other by name
# (the CNI backend has no DNS here).
network_backend = "netavark"
CONF
    ecm_say "wrote $conf (runtime runc, ulimits nofile 20000, nproc 32768, netavark)"
}

build_base() {
    if podman image exists "$BASE_IMAGE" && [[ ${ECM_IMAGE_REBUILD_BASE:-0} != 1 ]]; then
        ecm_say "$BASE_IMAGE exists (ECM_IMAGE_REBUILD_BASE=1 to make it again)"
        return 0
    fi
    command -v debootstrap >/dev/null || ecm_die "debootstrap missing: scripts/install-deps.sh deploy"
    local dir url t0=$SECONDS
    dir=$(mktemp -d /var/tmp/ecm-debian-base.XXXXXX)
    url=$(archive_url)
    ecm_say "debootstrap --variant=minbase bookworm from $url (log: $logs/image-base.log)"
    if ! debootstrap --variant=minbase bookworm "$dir" "$url" >"$logs/image-base.log" 2>&1; then
        tail -n 20 "$logs/image-base.log" >&2
        rm -rf "$dir"
        ecm_die "debootstrap failed"
    fi
    # Updates and security fixes too, as on the build machine.
    local sec=${url%/debian}/debian-security
    cat >"$dir/etc/apt/sources.list" <<SRC
deb $url bookworm main
deb $url bookworm-updates main
deb $sec bookworm-security main
SRC
    # No package caches or lists in the base layer.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$dir"
    ecm_say "$BASE_IMAGE imported ($((SECONDS - t0)) s, $(podman image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

# build NAME IMAGE CONTAINERFILE CONTEXT
build() {
    local name=$1 image=$2 file=$3 ctx=$4 t0=$SECONDS rev
    rev=$(git -C "$ECM_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    ecm_say "podman build $image from ${file#"$ECM_ROOT"/} (log: $logs/image-$name.log)"
    local cache=()
    [[ ${ECM_IMAGE_NO_CACHE:-0} != 1 ]] || cache=(--no-cache)
    if ! podman build --isolation=chroot --format docker "${cache[@]}" -f "$file" -t "$image" \
        --build-arg "ECM_REVISION=$rev" --build-arg "ECM_VERSION=$(ecm_version)" \
        --build-arg "ECM_CREATED=$(date -u +%FT%TZ)" "$ctx" >"$logs/image-$name.log" 2>&1; then
        tail -n 40 "$logs/image-$name.log" >&2
        ecm_die "podman build of $image failed"
    fi
    ecm_say "$image built ($((SECONDS - t0)) s, $(podman image inspect -f '{{.Size}}' "$image" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

ecm_version() { sed -n 's/^project(ecm VERSION \([0-9.]*\).*/\1/p' "$ECM_ROOT/CMakeLists.txt"; }

[[ $EUID -eq 0 ]] || ecm_die "run as root (debootstrap and podman need it here)"
what=${1:-all}
case $what in
podman-setup) podman_setup ;;
base) podman_setup && build_base ;;
ecm)
    podman_setup && build_base
    build ecm "localhost/ecm:$ECM_IMAGE_TAG" "$ECM_ROOT/deploy/Containerfile" "$ECM_ROOT"
    ;;
kannel)
    podman_setup && build_base
    build kannel "localhost/ecm-kannel:$ECM_IMAGE_TAG" "$ECM_ROOT/deploy/kannel/Containerfile" "$ECM_ROOT/deploy/kannel"
    ;;
postgres)
    podman_setup && build_base
    build postgres "localhost/ecm-postgres:15" "$ECM_ROOT/deploy/postgres/Containerfile" "$ECM_ROOT/deploy/postgres"
    ;;
all)
    podman_setup && build_base
    build ecm "localhost/ecm:$ECM_IMAGE_TAG" "$ECM_ROOT/deploy/Containerfile" "$ECM_ROOT"
    build kannel "localhost/ecm-kannel:$ECM_IMAGE_TAG" "$ECM_ROOT/deploy/kannel/Containerfile" "$ECM_ROOT/deploy/kannel"
    build postgres "localhost/ecm-postgres:15" "$ECM_ROOT/deploy/postgres/Containerfile" "$ECM_ROOT/deploy/postgres"
    ;;
-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
*) ecm_die "unknown image '$what' (try --help)" ;;
esac
