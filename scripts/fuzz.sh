#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang-15, ASan+UBSan, into
# build-fuzz/) and runs each for SECONDS seconds (default 60), two at a time,
# from its seeds: tests/fuzz/corpus/<name>/, plus the files of tests/data and
# ../shared/testdata it reads. The corpus grows in build-fuzz/fuzz-run/<name>/
# (the repository is never written). One line a harness: executions, corpus
# size, result; a crashing input is saved in build-fuzz/fuzz-run/<name>/ and
# named. Exits non-zero when a build fails or any harness found a crash.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]    e.g. scripts/fuzz.sh 600 csv_upload
#
# Knobs: ECM_FUZZ_BUILD_DIR (default <repo>/build-fuzz), ECM_FUZZ_JOBS
# (harnesses at once, default 2), ECM_FUZZ_CC / ECM_FUZZ_CXX (clang-15).
set -euo pipefail
ECM_SCRIPT="fuzz"
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ECM_ROOT"

seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || ecm_die "SECONDS must be a positive integer, got '$seconds'"
shift $(($# > 0 ? 1 : 0))

build=${ECM_FUZZ_BUILD_DIR:-$ECM_ROOT/build-fuzz}
jobs=${ECM_FUZZ_JOBS:-2}
shared_data=$ECM_ROOT/../shared/testdata

# name, -max_len, then the seed files outside tests/fuzz/corpus (globs; each
# gets a 0 byte in front: the harness's options byte, default campaign).
declare -A max_len=(
    [csv_upload]=4096 [json_upload]=4096 [api_body]=2048 [phone]=128
    [sms_callback]=1024 [uccx]=4096 [events]=1024 [dnc_upload]=4096
)
declare -A extra_seeds=(
    [csv_upload]="tests/data/csv-spectrum/csvs/*.csv tests/data/upload/*.csv $shared_data/csv-spectrum/csvs/*.csv"
    [json_upload]="tests/data/csv-spectrum/json/*.json tests/data/upload/*.json $shared_data/csv-spectrum/json/*.json"
)
all=()
for src in tests/fuzz/fuzz_*.c; do
    n=${src#tests/fuzz/fuzz_}
    all+=("${n%.c}")
done
names=("$@")
((${#names[@]})) || names=("${all[@]}")
for n in "${names[@]}"; do
    [[ -f tests/fuzz/fuzz_$n.c ]] || ecm_die "no harness '$n' (have: ${all[*]})"
done

# ---- build
log_dir=$ECM_DEV_DIR/logs
mkdir -p "$log_dir"
build_log=$log_dir/build-fuzz.log
ecm_say "building $build (clang-15, libFuzzer, ASan+UBSan; log: $build_log)"
if ! { cmake -S "$ECM_ROOT" -B "$build" -DECM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="${ECM_FUZZ_CC:-clang-15}" -DCMAKE_CXX_COMPILER="${ECM_FUZZ_CXX:-clang++-15}" &&
    cmake --build "$build" --target ecm_fuzz -j"$(nproc)"; } >"$build_log" 2>&1; then
    tail -n 60 "$build_log" >&2
    ecm_die "fuzz build failed (full log: $build_log)"
fi

# ---- run
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for s in llvm-symbolizer-15 llvm-symbolizer; do
    if command -v "$s" >/dev/null; then
        ASAN_SYMBOLIZER_PATH=$(command -v "$s")
        export ASAN_SYMBOLIZER_PATH
        break
    fi
done

# Runs one harness; its one-line summary goes to $run/summary.
run_one() {
    local n=$1
    local run=$build/fuzz-run/$n
    local corpus=$run/corpus log=$run/fuzz.log
    mkdir -p "$corpus"
    rm -f "$run"/crash-* "$run"/leak-* "$run"/timeout-* "$run"/oom-* "$run/summary"
    cp tests/fuzz/corpus/"$n"/* "$corpus"/ 2>/dev/null || true
    local g f
    for g in ${extra_seeds[$n]:-}; do
        for f in $g; do
            [[ -f $f ]] || continue
            { printf '\0'; cat "$f"; } >"$corpus/ext-$(basename "$f")"
        done
    done
    local args=(-max_total_time="$seconds" -max_len="${max_len[$n]:-4096}" -timeout=20
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$run/")
    [[ ! -f tests/fuzz/$n.dict ]] || args+=(-dict="tests/fuzz/$n.dict")
    local rc=0
    "$build/fuzz/fuzz_$n" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    local execs size artifact result
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
    size=$(find "$corpus" -type f | wc -l)
    artifact=$(find "$run" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
    if ((rc == 0)) && [[ -z $artifact ]]; then
        result="ok"
    else
        local why
        why=$(grep -a -m 1 -E 'fuzz property violated|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log" |
            cut -c 1-160 || true)
        result="FAILED (exit $rc): ${why:-see $log}; input: ${artifact:-none saved}; reproduce: $build/fuzz/fuzz_$n ${artifact:-}"
    fi
    printf '%-13s %10s execs  %5s corpus  %s\n' "$n" "${execs:-?}" "$size" "$result" >"$run/summary"
    [[ $result == ok ]]
}

ecm_say "running ${#names[@]} harnesses for ${seconds}s each, $jobs at a time"
# A harness's verdict is its summary line, not an exit status: the loop only
# waits for a free slot.
running=()
for n in "${names[@]}"; do
    while ((${#running[@]} >= jobs)); do
        left=()
        for p in "${running[@]}"; do
            if kill -0 "${p%%:*}" 2>/dev/null; then
                left+=("$p")
            else
                wait "${p%%:*}" || true
                cat "$build/fuzz-run/${p#*:}/summary"
            fi
        done
        running=("${left[@]}")
        ((${#running[@]} < jobs)) || sleep 1
    done
    run_one "$n" &
    running+=("$!:$n")
done
for p in "${running[@]}"; do
    wait "${p%%:*}" || true
    cat "$build/fuzz-run/${p#*:}/summary"
done
failed=()
for n in "${names[@]}"; do
    grep -q '  ok$' "$build/fuzz-run/$n/summary" 2>/dev/null || failed+=("$n")
done

if ((${#failed[@]})); then
    ecm_warn "FAILED: ${failed[*]} (logs: $build/fuzz-run/<name>/fuzz.log)"
    exit 1
fi
ecm_say "all ${#names[@]} harnesses ran ${seconds}s without a failure"
