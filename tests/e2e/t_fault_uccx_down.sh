#!/usr/bin/env bash
# UCCX (the Cisco simulator) unavailable, twice: frozen with SIGSTOP for 8 s
# or more (requests hang, POSTs time out and may still land later), and killed with
# SIGKILL and restarted 5 s or more later (connections refused; it keeps its state
# in its DB). Each time contacts are waiting and the feeder has room for
# several batches (capacity 200; no hold by dial rate, which would leave room
# for only what the dialer got through lately), yet it records only one batch
# 'sending' and retries that
# one, reconciled with UCCX, until UCCX is back. The campaign ends with
# nothing lost and no account number dialled twice; the feeder never exits.
# e2e-env: ECM_SIM_DIAL_RATE=150
# e2e-env: ECM_FEEDER_CAPACITY=200
# e2e-env: ECM_FEEDER_HOLD_MINUTES=0
# e2e-env: ECM_FEEDER_BATCH=50
# e2e-timeout: 300
# e2e-seconds: 91
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/checks.sh"

wave=200
batch=$ECM_FEEDER_BATCH

count() { ecm_psql -tA -c "SELECT count(*) FROM attempts WHERE campaign_id = $cid $1"; }
at_most() { (($(count "$2") <= $1)); }
# sample_sending FILE SECONDS: the number of attempts 'sending', every 0.2 s,
# for SECONDS and until a batch has been seen 'sending' (90 s at most: a
# loaded machine may take longer to record one).
sample_sending() {
    local file=$1 min_s=$2 t0=$SECONDS
    one_sample() {
        count "AND status = 'sending'" >>"$file"
        ((SECONDS - t0 >= min_s)) && (($(sort -n "$file" | tail -n 1) > 0))
    }
    e2e_wait_for --quiet --every 0.2 90 "a batch 'sending'" one_sample || true
}
# check_sending FILE WHAT: at least one batch waited, never more than one.
check_sending() {
    local max
    max=$(sort -n "$1" | tail -n 1)
    e2e_step "$2: at most $max attempts 'sending' ($(wc -l <"$1") samples)"
    e2e_assert_ge 1 "$max" "attempts 'sending' while $2 (the fault must hit a batch)"
    ((max <= batch)) || e2e_fail "$2: $max attempts 'sending', more than one batch ($batch)"
}
upload() {
    e2e_upload_contacts "$cid" "$wave" "$1" >"$E2E_TMP/upload-$1.json"
    jq -r .rows_loaded "$E2E_TMP/upload-$1.json"
}
feeder_pid=$(ecm_pid feeder) || e2e_fail "feeder is not running at the start"
feeder_alive() {
    e2e_assert_eq "$feeder_pid" "$(ecm_pid feeder || echo exited)" "pid of the feeder ($1)"
}
metrics() {
    curl -fsS "http://127.0.0.1:$(ecm_http_port feeder)/metrics" |
        grep -E '^ecm_feeder_(reconciled|uccx_errors)' | tr '\n' ' '
}

sim=$(ecm_pid cisco-sim) || e2e_fail "cisco-sim is not running at the start"
trap 'kill -CONT "$sim" 2>/dev/null || true; rm -rf "$E2E_TMP"' EXIT
cid=$(e2e_create_campaign "e2e uccx down")

# 1. Frozen: the feeder has room for the whole capacity, UCCX hangs.
kill -STOP "$sim"
e2e_step "simulator frozen; uploading $wave contacts"
loaded=$(upload 51)
sample_sending "$E2E_TMP/frozen" 8
kill -CONT "$sim"
check_sending "$E2E_TMP/frozen" "the simulator was frozen"
feeder_alive "after the freeze"
e2e_wait_for 60 "the batch left 'sending' settled after the freeze" at_most 0 "AND status = 'sending'"
e2e_step "settled after the freeze: $(metrics)"

# 2. Killed: wait until little is in flight, so that the feeder has room.
e2e_wait_for 60 "the simulator's queue drained" at_most "$batch" "AND status IN ('sending', 'sent')"
e2e_step "killing the simulator with SIGKILL at $(count "") attempts; uploading $wave more"
ecm_kill9 cisco-sim
loaded=$((loaded + $(upload 52)))
sample_sending "$E2E_TMP/killed" 5
ecm_start_service cisco-sim || e2e_fail "the simulator did not restart"
sim=$(ecm_pid cisco-sim)
check_sending "$E2E_TMP/killed" "the simulator was dead"
feeder_alive "after the simulator's restart"
e2e_wait_for 60 "the batch left 'sending' settled after the restart" at_most 0 "AND status = 'sending'"
e2e_step "settled after the restart: $(metrics)"

e2e_wait_campaign_closed "$cid" 150
e2e_campaign_summary "$cid"
e2e_check_campaign "$cid" "$loaded"
feeder_alive "at the end"
