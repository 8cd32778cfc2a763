#!/usr/bin/env bash
# ecm_phone_subdivision() per number (lib/rules/ecm_phone_geo.cc): the
# geocoder's first answer for an NPA-NXX, the cached answer, a non-NANP
# number, and ecm_phone_normalize() for scale. Prints figures, never passes
# or fails on them. Needs build/ (cmake --build build).
#   bench/phone_subdivision.sh [N]   N cached lookups (default 1000000)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ECM_BUILD_DIR:-$root/build}
[[ -f $build/libecm_rules.a ]] || { echo "bench: no $build/libecm_rules.a (build first)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=c11 -O2 -I"$root/lib/rules" -I"$root/lib/base" "$root/bench/phone_subdivision.c" \
    "$build/libecm_rules.a" "$build/libecm_io.a" "$build/libecm_base.a" \
    -lgeocoding -lphonenumber $(pkg-config --libs icu-i18n icu-uc protobuf re2 jansson) \
    -lstdc++ -lpthread -lm -o "$out/phone_subdivision"
"$out/phone_subdivision" "${1:-1000000}"
