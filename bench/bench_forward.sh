#!/usr/bin/env bash
# bench_forward.sh - loopback throughput through a TCP forwarder.
#
# One sink (a listener writing what it receives to /dev/null: `nettool serve`, which
# splices) and one client for every row, so that only the middle changes. The client is
# `nettool connect < FILE` with a BYTES-long file already in the page cache (SRC=file, the
# default: the client then costs the least CPU, so on a small machine the middle's own cost
# decides the wall time) or `head -c BYTES /dev/zero | nettool connect` (SRC=pipe: head's
# two copies of every byte compete with the middle for the same cores).
#   direct         client -> sink
#   nettool-to     client -> nettool serve -k --to SINK -> sink
#   socat-b128k    client -> socat -b131072 TCP-LISTEN:P,fork,reuseaddr TCP:127.0.0.1:T -> sink
# Wall time runs from the client's start until both client and sink have exited (the
# forwarder is started and waited for first). The forwarder's own CPU time (user + system,
# its forked children included) is the figure a busy machine disturbs least. Rows are run
# round-robin; the load average before and after is printed, since load moves every row.
#
# Usage:  NETTOOL=/path/to/nettool ./bench_forward.sh
#   RUNS=5 BYTES=4294967296 SRC=file|pipe ./bench_forward.sh
# Output: a markdown table and the ratios on stdout; raw per-run data in
# $RESULTS_DIR/forward-*.
# Needs: bash>=5, GNU time, coreutils, iproute2 (ss), socat.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"

BYTES=${BYTES:-4294967296}
TMO=${TMO:-120}                        # bound on each single transfer, seconds
CHECK_BYTES=${CHECK_BYTES:-67108864}   # sanity transfer (byte count verified)
SRC=${SRC:-file}
ROWS="direct nettool-to socat-b128k"

nettool_enabled || { echo "set NETTOOL=/path/to/nettool (the sink and client are nettool's)" >&2; exit 2; }
command -v socat >/dev/null || { echo "need socat" >&2; exit 2; }

# Starts the middle of row $1 listening on $MID (forwarding to $SINK_PORT); sets MPID.
start_middle() {
    MPID=
    case $1 in
    direct) return 0 ;;
    nettool-to) timed "$2.mid" "$NETTOOL" serve -q -k "127.0.0.1:$MID" --to "127.0.0.1:$SINK_PORT" </dev/null 2>>"$2.err" & ;;
    socat-b128k) timed "$2.mid" socat -b131072 "TCP-LISTEN:$MID,bind=127.0.0.1,fork,reuseaddr" "TCP:127.0.0.1:$SINK_PORT" </dev/null 2>>"$2.err" & ;;
    esac
    MPID=$!; track "$MPID"
    wait_tcp "$MID"
}

# Stops the middle (SIGTERM to the program, not to GNU time, which then writes its line).
# MPID is the subshell running `timed`, its child GNU time, and time's child the program.
stop_middle() {
    local t p i
    for t in $(pgrep -P "$MPID" 2>/dev/null); do
        for p in $(pgrep -x -P "$t" 'nettool|socat' 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
    done
    for i in $(seq 1 250); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.02; done
    kill -0 "$MPID" 2>/dev/null && stop_pid "$MPID"
    wait "$MPID" 2>/dev/null
    return 0
}

# One transfer of $2 bytes through row $1 into $3 (file or /dev/null); GNU time lines go
# to $4.cli / $4.srv; prints the wall seconds.
xfer() {
    local row=$1 n=$2 sink=$3 raw=$4 spid t0 rc=0 target
    SINK_PORT=$(free_port); MID=$(free_port)
    timed "$raw.srv" timeout "$TMO" "$NETTOOL" serve -q "127.0.0.1:$SINK_PORT" </dev/null >"$sink" 2>>"$raw.err" &
    spid=$!; track "$spid"
    wait_tcp "$SINK_PORT" || { stop_pid "$spid"; return 1; }
    start_middle "$row" "$raw" || { stop_pid "$spid"; return 1; }
    target=$SINK_PORT; [ "$row" = direct ] || target=$MID
    t0=$EPOCHREALTIME
    if [ "$SRC" = file ] && [ "$n" = "$BYTES" ]; then
        timed "$raw.cli" timeout "$TMO" "$NETTOOL" connect -q "127.0.0.1:$target" <"$BT/src.bin" >/dev/null 2>>"$raw.err" || rc=$?
    else
        head -c "$n" /dev/zero | timed "$raw.cli" timeout "$TMO" "$NETTOOL" connect -q "127.0.0.1:$target" >/dev/null 2>>"$raw.err" || rc=$?
    fi
    wait "$spid" || rc=$?
    since "$t0"
    [ -n "$MPID" ] && stop_middle
    return $rc
}

if [ "$SRC" = file ]; then
    hr "creating $BYTES-byte source file in $BT (page cache)"
    head -c "$BYTES" /dev/zero > "$BT/src.bin"; cat "$BT/src.bin" > /dev/null
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "## Forwarder throughput, $((BYTES / 1048576)) MiB per transfer, source=$SRC, $RUNS runs, median (min-max)"
echo
echo "$(machine_line)"
echo
echo "| path | GB/s median | GB/s min-max | wall s median | forwarder cpu s median |"
echo "|---|---|---|---|---|"
rows=()
for r in $ROWS; do
    raw="$RESULTS_DIR/forward-$STAMP-$r"
    : > "$raw.wall"; : > "$raw.cli"; : > "$raw.srv"; : > "$raw.err"; : > "$raw.mid"
    got=$(xfer "$r" "$CHECK_BYTES" "$BT/check.out" "$BT/check" >/dev/null; stat -c %s "$BT/check.out" 2>/dev/null)
    rm -f "$BT/check.out"
    if [ "${got:-0}" != "$CHECK_BYTES" ]; then
        hr "FAIL sanity $r: got ${got:-nothing} of $CHECK_BYTES bytes; row skipped"; continue
    fi
    rows+=("$r")
done
declare -A MEDIAN
for i in $(seq 1 "$RUNS"); do
    for r in "${rows[@]}"; do
        raw="$RESULTS_DIR/forward-$STAMP-$r"
        w=$(xfer "$r" "$BYTES" /dev/null "$raw") || hr "WARN $r run $i exit status non-zero"
        echo "$w" >> "$raw.wall"
        hr "$r run $i: ${w}s"
    done
done
for r in "${rows[@]}"; do
    raw="$RESULTS_DIR/forward-$STAMP-$r"
    read -r wm wmin wmax < <(stats < "$raw.wall")
    MEDIAN[$r]=$wm
    # GNU time's lines only (it adds "Command exited with non-zero status" for socat's SIGTERM)
    mcpu=$(awk 'NF == 5 && $1 ~ /^[0-9.]+$/ {print $2 + $3}' "$raw.mid" | stats | awk '{print $1}')
    [ "$r" = direct ] && mcpu=-
    echo "| $r | $(calc %.2f "$BYTES / $wm / 1e9") | $(calc %.2f "$BYTES / $wmax / 1e9")-$(calc %.2f "$BYTES / $wmin / 1e9") | $(calc %.2f "$wm") | $mcpu |"
done
echo
if [ -n "${MEDIAN[nettool-to]:-}" ]; then
    [ -n "${MEDIAN[socat-b128k]:-}" ] && echo "nettool serve --to / socat -b131072: $(calc %.2f "${MEDIAN[socat-b128k]} / ${MEDIAN[nettool-to]}")x"
    [ -n "${MEDIAN[direct]:-}" ] && echo "nettool serve --to / direct: $(calc %.2f "${MEDIAN[direct]} / ${MEDIAN[nettool-to]}")x"
fi
echo
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
