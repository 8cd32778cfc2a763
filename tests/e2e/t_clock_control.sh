#!/usr/bin/env bash
# The dev stack's held business clock, on the scripts' side (the services'
# side is tests/unit/test_clock.c): a stack set up with ECM_DEV_CLOCK_HELD=1
# stands at ECM_DEV_CLOCK; e2e_clock_release --until runs it to that instant
# and it stands there; e2e_clock_release runs it on from there at the rate;
# e2e_clock_hold stops it again. Business time never goes backwards across
# these. Runs on a clock of its own (a scratch ECM_DEV_DIR), no stack.
# e2e: no-stack
# e2e-timeout: 120
# e2e-seconds: 8
source "$(dirname "$0")/lib.sh"

export ECM_DEV_DIR=$E2E_TMP/dev ECM_DEV_CLOCK=2026-03-04T12:00:00Z ECM_DEV_CLOCK_RATE=1800
export ECM_DEV_CLOCK_HELD=1
unset ECM_CLOCK_FIXED ECM_CLOCK_OFFSET_MS ECM_CLOCK_RATE ECM_CLOCK_EPOCH_MS
ecm_clock_init
start=$(date -u -d "$ECM_DEV_CLOCK" +%s%3N)
e2e_assert_eq "ECM_CLOCK_CONTROL_FILE=$ECM_DEV_DIR/run/clock.ctl" "$(ecm_clock_env)" "clock.env"
e2e_assert_eq 1800 "$(e2e_clock_rate)" "rate of the held clock"
e2e_assert_eq "$start" "$(ecm_business_now_ms)" "business time of the held clock"

# Real time passes (a marker: the real clock moved on), business time does not.
real0=$(date -u +%s%3N)
e2e_wait_for 10 "the real clock past $real0" bash -c "(( \$(date -u +%s%3N) > $real0 + 20 ))"
e2e_assert_eq "$start" "$(ecm_business_now_ms)" "business time of the held clock, later"

# Run to an hour later and stand there.
stop=$((start + 3600000))
e2e_clock_release --until "$stop"
e2e_wait_for 30 "business time standing at $(e2e_iso "$stop")" e2e_clock_stopped_at "$stop"
e2e_assert_eq "$stop" "$(ecm_business_now_ms)" "business time after the run to $(e2e_iso "$stop")"

# Run on from there, at the rate: never below where it stood.
e2e_clock_release
read -r mode b _ rate _ <"$ECM_DEV_DIR/run/clock.ctl"
e2e_assert_eq "run $stop 1800" "$mode $b $rate" "control file after the release"
e2e_wait_business $((stop + 60000))

# Held again: it stands (never below what it showed before the hold).
before=$(ecm_business_now_ms)
e2e_clock_hold
held=$(ecm_business_now_ms)
e2e_assert_ge "$before" "$held" "business time when held"
real0=$(date -u +%s%3N)
e2e_wait_for 10 "the real clock past $real0" bash -c "(( \$(date -u +%s%3N) > $real0 + 20 ))"
e2e_assert_eq "$held" "$(ecm_business_now_ms)" "business time of the clock held again"
e2e_step "held at $(e2e_iso "$start"), ran to $(e2e_iso "$stop") and stood, ran on, held at $(e2e_iso "$held")"
