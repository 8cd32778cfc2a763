# shellcheck shell=bash
# Records HTTP exchanges with the gateway for tests/api/openapi_check.py.
# Source it, then:
#   ECM_API_BASE=http://127.0.0.1:7480   (default)
#   ECM_API_LOG=/path/exchanges.jsonl    (required: one JSON line appended per call)
#   api_call METHOD PATH [curl arguments...]
# sends the request with curl (with Authorization: Bearer $ECM_API_KEY when
# that is set and the arguments carry no Authorization header), appends {"method","path","status",
# "content_type","body"} to $ECM_API_LOG, prints the response body on stdout
# and leaves the status in API_STATUS (000 when no answer came). Returns 0
# whatever the status; 1 when curl or jq failed. Needs curl and jq.

: "${ECM_API_BASE:=http://127.0.0.1:7480}"

api_call() {
    local method=$1 path=$2
    shift 2
    [[ -n ${ECM_API_LOG:-} ]] || {
        echo "api_call: ECM_API_LOG is not set" >&2
        return 1
    }
    local body_file meta rc=0 a auth=()
    [[ -z ${ECM_API_KEY:-} ]] || auth=(-H "Authorization: Bearer $ECM_API_KEY")
    for a in "$@"; do [[ ${a,,} != authorization:* ]] || auth=(); done
    body_file=$(mktemp)
    meta=$(curl -sS -X "$method" -o "$body_file" -w '%{http_code}\t%{content_type}' \
        "${auth[@]}" "$@" "$ECM_API_BASE$path") || rc=$?
    API_STATUS=${meta%%$'\t'*}
    local ctype=${meta#*$'\t'}
    if ((rc == 0)); then
        jq -cn --arg method "$method" --arg path "$path" --argjson status "$API_STATUS" \
            --arg content_type "$ctype" --rawfile body "$body_file" \
            '{method: $method, path: $path, status: $status, content_type: $content_type, body: $body}' \
            >>"$ECM_API_LOG" || rc=$?
        cat "$body_file"
    fi
    rm -f "$body_file"
    return $((rc != 0))
}
