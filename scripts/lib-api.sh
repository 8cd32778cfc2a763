# shellcheck shell=bash
# Part of scripts/lib.sh (sourced by it; never on its own): helpers on the
# running stack's API, campaigns and contacts, Kannel and the SMS stand-ins.
# ---------------------------------------------------------------- API helpers

# curl on the gateway: api METHOD PATH [curl args...]. Prints the body; returns
# non-zero (body on stderr) on an HTTP error. JSON content type unless the
# caller gives its own; Bearer $ECM_API_KEY when that is set.
# When ECM_API_EXCHANGE_LOG names a file, each exchange is appended to it as
# one JSON line {method, path, status, content_type, body} for
# tests/api/openapi_check.py (tests/e2e/run.sh sets it per scenario); a CSV
# body is left out ("body_omitted": true): its status and type are checked.
api() {
    local method=$1 path=$2
    shift 2
    local args=(-sS --fail-with-body --max-time "${ECM_API_TIMEOUT_S:-120}" -X "$method")
    local a has_ct=0
    for a in "$@"; do [[ ${a,,} == content-type:* ]] && has_ct=1; done
    ((has_ct)) || args+=(-H 'Content-Type: application/json')
    [[ -z ${ECM_API_KEY:-} ]] || args+=(-H "Authorization: Bearer $ECM_API_KEY")
    local out rc=0
    if [[ -n ${ECM_API_EXCHANGE_LOG:-} ]]; then
        local body_file meta
        body_file=$(mktemp)
        meta=$(curl "${args[@]}" -o "$body_file" -w '%{http_code}\t%{content_type}' "$@" \
            "${ECM_DEV_API_URL}${path}") || rc=$?
        out=$(cat "$body_file")
        ecm__api_log_exchange "$method" "$path" "$meta" "$body_file"
        rm -f "$body_file"
    else
        out=$(curl "${args[@]}" "$@" "${ECM_DEV_API_URL}${path}") || rc=$?
    fi
    if ((rc != 0)); then
        printf '%s\n' "$out" >&2
        ecm_warn "api $method $path failed (curl exit $rc)"
        return "$rc"
    fi
    printf '%s\n' "$out"
}

# Appends one exchange of api() to $ECM_API_EXCHANGE_LOG: METHOD PATH
# "STATUS<tab>CONTENT_TYPE" (curl -w) BODY_FILE. Nothing when no answer came
# (status 000). Never fails the call: a line not written is a warning.
ecm__api_log_exchange() {
    local method=$1 path=$2 meta=$3 body_file=$4 status ctype omit=false
    status=${meta%%$'\t'*}
    ctype=${meta#*$'\t'}
    [[ $status =~ ^[1-9][0-9][0-9]$ ]] || return 0
    [[ ${ctype,,} != text/csv* ]] || omit=true
    jq -cn --arg method "$method" --arg path "$path" --argjson status "$status" \
        --arg content_type "$ctype" --rawfile body "$body_file" --argjson omit "$omit" \
        '{method: $method, path: $path, status: $status, content_type: $content_type,
          body: (if $omit then null else $body end)} + (if $omit then {body_omitted: true} else {} end)' \
        >>"$ECM_API_EXCHANGE_LOG" || ecm_warn "api: exchange not logged to $ECM_API_EXCHANGE_LOG"
}

# Creates (once) through the API a strategy NAME copied from Default with every
# retry delay set to DELAY seconds and the per-day cap lifted to the overall
# cap, so that a demo or a test runs to the end in minutes; the outcomes
# CLOSE... (optional) close the contact instead of retrying. Prints its id.
#   ecm_create_fast_strategy [NAME [DELAY [CLOSE...]]]
ecm_create_fast_strategy() {
    local name=${1:-Demo} delay=${2:-2} list id default body answer close
    close=$(jq -cn '$ARGS.positional' --args "${@:3}")
    list=$(api GET '/api/v1/strategies?limit=200') || return 1
    id=$(jq -r --arg n "$name" '.items[] | select(.name == $n) | .id' <<<"$list")
    if [[ -n $id ]]; then
        echo "$id"
        return 0
    fi
    default=$(jq -r '.items[] | select(.name == "Default") | .id' <<<"$list")
    [[ -n $default ]] || { ecm_warn "no Default strategy"; return 1; }
    body=$(api GET "/api/v1/strategies/$default" |
        jq --arg n "$name" --argjson d "$delay" --argjson close "$close" '{
        name: $n, description: "Default with \($d) s retries (demo and tests)",
        max_attempts, max_attempts_per_day: .max_attempts,
        rules: [.rules[] | (if (.outcome | IN($close[])) then .action = "close" else . end)
                         | {outcome, action, max_attempts, next_phone,
                            delay_seconds: (if .action == "retry" then $d else 0 end)}]}') ||
        return 1
    answer=$(api POST /api/v1/strategies -d "$body") || return 1
    id=$(jq -r '.id // empty' <<<"$answer")
    [[ $id =~ ^[0-9]+$ ]] || { ecm_warn "unexpected answer to POST /api/v1/strategies: $answer"; return 1; }
    echo "$id"
}

# Writes a CSV of N contacts (header account_number,first_name,last_name,
# phone1,phone2) to FILE: realistic names, distinct 10-digit US numbers.
# SEED makes it repeatable.
ecm_gen_contacts_csv() {
    local n=$1 file=$2 seed=${3:-42}
    awk -v n="$n" -v seed="$seed" 'BEGIN {
        srand(seed)
        nf = split("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth " \
            "William Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Maria " \
            "Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Donald Ashley Steven Emily " \
            "Paul Kimberly Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian " \
            "Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Laura Edward Sharon " \
            "Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas Shirley Eric Anna " \
            "Jonathan Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Luis Samantha " \
            "Jose Katherine Carlos Christine Miguel Debra Juan Rachel Wei Priya Aisha Omar", first, " ")
        nl = split("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez " \
            "Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee " \
            "Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young " \
            "Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall " \
            "Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker " \
            "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez " \
            "Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward " \
            "Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes " \
            "Price Alvarez Castillo Sanders Patel Myers Long Ross Foster O'\''Brien", last, " ")
        na = split("201 202 203 205 206 207 208 210 212 213 214 215 216 217 218 219 224 225 " \
            "228 229 231 234 239 240 248 251 252 253 254 256 260 262 267 269 270 276 281 301 " \
            "302 303 304 305 307 308 309 310 312 313 314 315 316 317 318 319 320 321 323 325 " \
            "330 334 336 337 339 347 351 352 360 361 385 386 401 402 404 405 406 407 408 409 " \
            "410 412 413 414 415 417 419 423 424 425 430 432 434 435 440 443 469 478 479 480 " \
            "484 501 502 503 504 505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 " \
            "551 559 561 562 563 567 570 571 573 574 580 585 586 601 602 603 605 606 607 608 " \
            "609 610 612 614 615 616 617 618 619 620 623 626 630 631 636 641 646 650 651 660 " \
            "661 662 678 701 702 703 704 706 707 708 712 713 714 715 716 717 718 719 720 724 " \
            "727 731 732 734 740 754 757 760 762 763 765 770 772 773 774 775 781 785 786 801 " \
            "802 803 804 805 806 808 810 812 813 814 815 816 817 818 828 830 831 832 843 845 " \
            "847 848 850 856 857 858 859 860 862 863 864 865 870 878 901 903 904 906 907 908 " \
            "909 910 912 913 914 915 916 917 918 919 920 925 928 931 936 937 940 941 947 949 " \
            "951 952 954 956 970 971 972 973 978 979 980 985 989", area, " ")
        print "account_number,first_name,last_name,phone1,phone2"
        for (i = 1; i <= n; i++) {
            p1 = phone(); p2 = phone()
            printf "ACC%07d,%s,%s,%s,%s\n", 1000000 + i, first[int(rand() * nf) + 1],
                last[int(rand() * nl) + 1], p1, p2
        }
    }
    function phone(   p, x) {
        do {
            # Exchange 200-999 but not N11 (service codes) nor 555 (fiction).
            do x = 200 + int(rand() * 800); while (x % 100 == 11 || x == 555)
            p = sprintf("%s%03d%04d", area[int(rand() * na) + 1], x, int(rand() * 10000))
        } while (p in seen)
        seen[p] = 1
        return p
    }' >"$file"
}

# ecm__strategy_ensure NAME: the strategy NAME, made by
# ecm_create_fast_strategy unless the API lists it. Non-zero on failure.
ecm__strategy_ensure() {
    ecm_create_fast_strategy "$1" 2 >/dev/null
}

# ecm__campaign_create_active BODY: POSTs the campaign BODY (JSON), activates
# it and prints its id. Non-zero on an API error.
ecm__campaign_create_active() {
    local answer id
    answer=$(api POST /api/v1/campaigns -d "$1") || return 1
    id=$(jq -r '.id // empty' <<<"$answer")
    if [[ ! $id =~ ^[0-9]+$ ]]; then
        ecm_warn "unexpected answer to POST /api/v1/campaigns: $answer"
        return 1
    fi
    api POST "/api/v1/campaigns/$id/activate" >/dev/null || return 1
    echo "$id"
}

# ecm_create_campaign NAME [STRATEGY [TARGET]]: creates a voice_ivr campaign
# on Cisco TARGET (default UCCX campaign 1; see ecm_cisco_json) using strategy
# STRATEGY (a name; default Demo, made with ecm_create_fast_strategy if
# missing), activates it, and prints its id. Returns non-zero on an API error.
ecm_create_campaign() {
    local name=$1 strategy=${2:-Demo} target=${3:-1} body cisco
    ecm__strategy_ensure "$strategy" || return 1
    cisco=$(ecm_cisco_json "$target") || return 1
    body=$(jq -n --arg name "$name" --arg strategy "$strategy" --argjson cisco "$cisco" \
        '{name: $name, channel: "voice_ivr", strategy: $strategy, cisco: $cisco}')
    ecm__campaign_create_active "$body"
}

# ecm_cisco_json TARGET: prints a campaign's "cisco" member for TARGET, which
# is a UCCX campaign id ("1") or KIND:ID[:IMPORT_TABLE] ("ucce_api:5001",
# "ucce_db:5002:Import_5002").
ecm_cisco_json() {
    local kind id table
    if [[ $1 != *:* ]]; then
        kind=uccx id=$1 table=
    else
        IFS=: read -r kind id table <<<"$1"
    fi
    jq -cn --arg kind "$kind" --arg id "$id" --arg table "$table" \
        '{kind: $kind, campaign_id: $id} + (if $table == "" then {} else {import_table: $table} end)'
}

# Prints "closed total" for campaign ID from GET /api/v1/campaigns/ID.
ecm_campaign_progress() {
    local c
    c=$(api GET "/api/v1/campaigns/$1") || return 1
    jq -r '"\(.counts.by_state.closed) \(.counts.contacts)"' <<<"$c"
}

# Prints the simulator's count of account numbers it received more than once.
ecm_sim_duplicates() {
    curl -fsS --max-time 10 "$ECM_DEV_SIM_URL/sim/stats" |
        jq -r '.duplicate_accounts // "missing"'
}

# ---------------------------------------------------------------- Kannel and SMS

# Writes Kannel's configuration for the dev stack (0600, it holds passwords)
# to $ECM_DEV_KANNEL_CONF and prints its path: deploy/kannel/kannel-conf.sh
# (the dev image's generator too) with everything on 127.0.0.1 and logs in
# $ECM_DEV_DIR/logs. smsbox's get-url for MOs carries the sms service's MO
# key (key=); ECM_DEV_KANNEL_MO_URL overrides it (then it must carry the key
# itself).
ecm_kannel_write_conf() {
    ecm_env_load
    local dir=$ECM_DEV_DIR/kannel logs=$ECM_DEV_DIR/logs
    local mo_url=${ECM_DEV_KANNEL_MO_URL:-$ECM_DEV_SMS_MO_URL}
    mkdir -p "$dir/store" "$logs"
    chmod 700 "$dir"
    # An empty store is read as "no messages"; a missing one logs three ERRORs.
    [[ -e $dir/store/kannel.store ]] || : >"$dir/store/kannel.store"
    (
        umask 077
        KC_ADMIN_PORT=$(ecm_port kannel-admin) KC_BOX_PORT=$(ecm_port kannel-box) \
            KC_FAKE_PORT=$(ecm_port kannel-fake) KC_MO_PORT=$(ecm_port kannel-mo) \
            KC_SENDSMS_PORT=$(ecm_port kannel-sendsms) KC_INTERFACE=127.0.0.1 KC_ALLOW_IP=127.0.0.1 \
            KC_ADMIN_PASSWORD=$ECM_DEV_KANNEL_ADMIN_PASSWORD KC_STATUS_PASSWORD=$ECM_DEV_KANNEL_STATUS_PASSWORD \
            KC_USER=$ECM_DEV_KANNEL_USER KC_PASSWORD=$ECM_DEV_KANNEL_PASSWORD KC_MO_URL=$mo_url \
            KC_STORE=$dir/store/kannel.store KC_SENDER=$ECM_DEV_SMS_SENDER KC_LOG_DIR=$logs \
            "$ECM_ROOT/deploy/kannel/kannel-conf.sh" >"$ECM_DEV_KANNEL_CONF.tmp"
    )
    mv "$ECM_DEV_KANNEL_CONF.tmp" "$ECM_DEV_KANNEL_CONF"
    echo "$ECM_DEV_KANNEL_CONF"
}

# Prints bearerbox's status page (text); returns non-zero when it does not answer.
ecm_kannel_status() {
    curl -fsS --max-time 2 "$ECM_DEV_KANNEL_STATUS_URL?password=$ECM_DEV_KANNEL_STATUS_PASSWORD" 2>/dev/null
}

# 0 when Kannel can take and deliver a message: the fake SMSC "fake" is online
# (fakesmsc connected), smsbox is connected to bearerbox and its sendsms port
# answers HTTP.
ecm_kannel_ready() {
    local st code
    st=$(ecm_kannel_status) || return 1
    grep -qE '^[[:space:]]+fake\[fake\][[:space:]].*\(online' <<<"$st" || return 1
    grep -qE '^[[:space:]]+smsbox:' <<<"$st" || return 1
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ECM_DEV_KANNEL_SENDSMS_URL" 2>/dev/null || true)
    [[ -n $code && $code != 000 ]]
}

# ecm_fakesmsc_count [--segments] [DEST]: messages the fakesmsc client received
# (from $ECM_DEV_FAKESMSC_LOG, one "Got message N: <from to type ...>" line a
# segment). Without DEST prints "DEST COUNT" lines sorted by DEST; with DEST
# prints that destination's count (0 when none). A concatenated message counts
# once (its segment with sequence number 1); --segments counts every segment.
ecm_fakesmsc_count() {
    local segments=0
    if [[ ${1:-} == --segments ]]; then
        segments=1
        shift
    fi
    local dest=${1:-}
    [[ -f $ECM_DEV_FAKESMSC_LOG ]] || {
        [[ -z $dest ]] || echo 0
        return 0
    }
    LC_ALL=C awk -v segments="$segments" -v dest="$dest" '
    BEGIN { for (i = 0; i < 256; i++) ord[sprintf("%c", i)] = i
            hex = "0123456789abcdef" }
    # Byte values of an url-encoded string into b[1..n]; returns n.
    function decode(s, b,   n, i, c) {
        n = 0
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "%" && i + 2 <= length(s)) {
                b[++n] = (index(hex, tolower(substr(s, i + 1, 1))) - 1) * 16 + \
                    index(hex, tolower(substr(s, i + 2, 1))) - 1
                i += 2
            } else if (c == "+") {
                b[++n] = 32
            } else {
                b[++n] = ord[c]
            }
        }
        return n
    }
    # Sequence number of a segment from its UDH (concatenation IE 0 or 8);
    # 1 when the UDH has no concatenation IE.
    function seqno(udh,   b, n, p, iei, l) {
        n = decode(udh, b)
        p = 2
        while (p + 1 <= n) {
            iei = b[p]; l = b[p + 1]
            if (iei == 0 && l == 3) return b[p + 4]
            if (iei == 8 && l == 4) return b[p + 5]
            p += 2 + l
        }
        return 1
    }
    {
        i = index($0, "Got message ")
        if (i == 0) next
        rest = substr($0, i)
        j = index(rest, ": <")
        if (j == 0) next
        split(substr(rest, j + 3), f, " ")
        to = f[2]
        if (!segments && f[3] == "udh" && seqno(f[4]) != 1) next
        count[to]++
    }
    END {
        if (dest != "") { print count[dest] + 0; exit }
        for (d in count) print d, count[d]
    }' "$ECM_DEV_FAKESMSC_LOG" | { if [[ -z $dest ]]; then sort; else cat; fi; }
}

# ecm_fakesmsc_mo FROM TEXT [TO]: injects one MO (a text message from phone
# FROM to TO, default $ECM_DEV_SMS_SENDER) through Kannel's second fake SMSC
# with Kannel's own fakesmsc client; smsbox then calls the sms-service get-url.
# TEXT is GSM text, or "ucs2:<url-encoded UTF-16BE>" for Unicode. Returns
# non-zero when fakesmsc did not send it.
ecm_fakesmsc_mo() {
    local from=$1 text=$2 to=${3:-$ECM_DEV_SMS_SENDER} line log=$ECM_DEV_DIR/logs/fakesmsc-mo.log
    if [[ $text == ucs2:* ]]; then
        line="$from $to ucs2 ${text#ucs2:}"
    else
        line="$from $to text $text"
    fi
    local out
    # fakesmsc sends at once, then waits for MTs forever: SIGINT ends it.
    out=$(timeout -s INT 2 "$ECM_FAKESMSC" -H 127.0.0.1 -r "$(ecm_port kannel-mo)" -m 1 "$line" 2>&1 || true)
    printf '%s\n' "$out" >>"$log"
    grep -q 'sent message 1' <<<"$out" || {
        ecm_warn "fakesmsc did not send the MO '$line' (log: $log)"
        return 1
    }
}

# Prints GET /sim/stats of the SMS simulator (JSON); non-zero on failure.
ecm_smssim_stats() {
    curl -fsS --max-time 10 "$ECM_DEV_SMSSIM_URL/sim/stats"
}

# ecm_create_sms_campaign NAME TEMPLATE GATEWAY [STRATEGY [DLR_TIMEOUT_S [SENDER]]]:
# creates an sms campaign (GATEWAY kannel or http) with strategy STRATEGY
# (default Demo, made with ecm_create_fast_strategy if missing), activates it
# and prints its id. Returns non-zero on an API error.
ecm_create_sms_campaign() {
    local name=$1 template=$2 gateway=$3 strategy=${4:-Demo} dlr_timeout=${5:-60}
    local sender=${6:-$ECM_DEV_SMS_SENDER} body
    ecm__strategy_ensure "$strategy" || return 1
    body=$(jq -n --arg name "$name" --arg strategy "$strategy" --arg template "$template" \
        --arg sender "$sender" --arg gateway "$gateway" --argjson dlr "$dlr_timeout" \
        '{name: $name, channel: "sms", strategy: $strategy,
          sms: {template: $template, sender: $sender, gateway: $gateway, dlr_timeout_s: $dlr}}')
    ecm__campaign_create_active "$body"
}
