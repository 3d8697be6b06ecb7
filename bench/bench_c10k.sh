#!/usr/bin/env bash
# bench_c10k.sh - ten thousand idle connections on an echo server.
#
# For each server: start it on 127.0.0.1, then the C10K client (bench/c/c10k.c, built here
# with cc) opens N connections and leaves them idle, reads the server's VmRSS from
# /proc/PID/status, times PROBES new clients (connect, send a line, read its echo) while the
# N are held, then wakes all N (each sends its own line and reads it back, compared byte for
# byte) and reads the server's memory again. Targets (issue "Speed"): RSS with N held
# <= 64 MiB, every probe answered in < 10 ms, every echo right.
#
# Usage: ./bench_c10k.sh
#   RUNS=3 N=10000 PROBES=20 SERVERS="nettool python3-selectors"
#   NETTOOL=/path/to/nettool adds the nettool row; its command line (eval'ed; HOST PORT set):
#     NETTOOL_ECHO_SERVER='"$NETTOOL" serve -q -k --echo --backlog 4096 "$HOST:$PORT"'
# Output: a markdown table on stdout; raw client output in $RESULTS_DIR/c10k-*.
# Needs: bash>=5, cc, iproute2 (ss), python3; a hard descriptor limit above N + 64.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"

N=${N:-10000}
PROBES=${PROBES:-20}
RUNS=${RUNS:-3}
TMO=${TMO:-120}   # bound on each client run, seconds
SERVERS=${SERVERS:-"nettool python3-selectors"}
NETTOOL_ECHO_SERVER=${NETTOOL_ECHO_SERVER:-'"$NETTOOL" serve -q -k --echo --backlog 4096 "$HOST:$PORT"'}
HOST=127.0.0.1

command -v cc >/dev/null || { echo "need a C compiler (bench/install-peers.sh)" >&2; exit 2; }
cc -O2 -o "$BT/c10k" "$HERE/c/c10k.c" || exit 2
ulimit -n "$(ulimit -Hn)"   # the servers and the client hold N descriptors each
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((N + 64)) ] ||
    { echo "the descriptor limit ($(ulimit -Hn)) is below N + 64; lower N" >&2; exit 2; }

# The reference peer: Python's selectors echo server (the model nettool's loop follows).
cat > "$BT/echosrv.py" <<'PY'
import selectors, socket, sys
sel = selectors.DefaultSelector()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2]))); srv.listen(4096); srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is srv:
            while True:
                try:
                    c, _ = srv.accept()
                except BlockingIOError:
                    break
                c.setblocking(False); sel.register(c, selectors.EVENT_READ)
        else:
            c = key.fileobj
            try:
                data = c.recv(65536)
            except ConnectionError:
                data = b""
            if data:
                c.send(data)  # small lines: the send buffer takes them whole
            else:
                sel.unregister(c); c.close()
PY

server_cmd() {
    case $1 in
    nettool) eval "SRV=( $NETTOOL_ECHO_SERVER )" ;;
    python3-selectors) SRV=("$PYTHON" "$BT/echosrv.py" "$HOST" "$PORT") ;;
    *) return 1 ;;
    esac
}
have() { case $1 in nettool) nettool_enabled ;; python3*) [ -x "$PYTHON" ] ;; *) return 1 ;; esac; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
echo "## $N idle connections on an echo server, $RUNS runs, median (min-max)"
echo
echo "$(machine_line)"
echo
echo "| server | RSS start MiB | RSS with $N held MiB | KiB per connection | new client answered, ms median / max (of $PROBES per run) | echoes right after waking | RSS after waking MiB | targets (<= 64 MiB, < 10 ms, all echoes) |"
echo "|---|---|---|---|---|---|---|---|"
for s in $SERVERS; do
    have "$s" || { hr "skip $s"; continue; }
    raw="$RESULTS_DIR/c10k-$STAMP-$s"; : > "$raw.out"
    for i in $(seq 1 "$RUNS"); do
        PORT=$(free_port); server_cmd "$s"
        "${SRV[@]}" </dev/null >/dev/null 2>>"$raw.err" &
        spid=$!; track "$spid"
        wait_tcp "$PORT" || { stop_pid "$spid"; hr "FAIL start $s"; continue; }
        timeout "$TMO" "$BT/c10k" "$HOST" "$PORT" "$N" "$spid" "$PROBES" > "$BT/run.out" 2>>"$raw.err"
        hr "$s run $i: exit $? $(tr '\n' ' ' < "$BT/run.out")"
        sed "s/^/run$i /" "$BT/run.out" >> "$raw.out"
        stop_pid "$spid"
    done
    val() { awk -v k="$1" '$2 == k {print $3}' "$raw.out"; }
    med() { val "$1" | stats; }
    read -r start _ < <(med rss_start_kib)
    read -r held hmin hmax < <(med rss_held_kib)
    read -r wake _ < <(med rss_after_wake_kib)
    read -r pmed _ < <(med probe_ms_median)
    read -r pmax _ < <(val probe_ms_max | sort -g | tail -1 | stats)
    echoed=$(val echoed_ok | awk '{s+=$1} END{print s+0}')
    probes_ok=$(val probes_ok | awk '{s+=$1} END{print s+0}')
    runs=$(val connections | wc -l)
    per=$(calc %.2f "($held - $start) / $N")
    verdict=pass
    awk -v h="$hmax" 'BEGIN{exit !(h > 65536)}' && verdict="FAIL: RSS"
    awk -v p="$pmax" 'BEGIN{exit !(p >= 10)}' && verdict="FAIL: probe ${pmax} ms"
    [ "$echoed" = $((N * runs)) ] && [ "$probes_ok" = $((PROBES * runs)) ] || verdict="FAIL: echoes"
    [ "$runs" -gt 0 ] || verdict="FAIL: no run"
    printf '| %s | %.1f | %.1f (%.1f-%.1f) | %s | %.2f / %.2f | %s of %s | %.1f | %s |\n' "$s" \
        "$(calc %.3f "$start/1024")" "$(calc %.3f "$held/1024")" "$(calc %.3f "$hmin/1024")" \
        "$(calc %.3f "$hmax/1024")" "$per" "$pmed" "$pmax" "$echoed" "$((N * runs))" \
        "$(calc %.3f "$wake/1024")" "$verdict"
done
echo
echo "RSS from /proc/PID/status (VmRSS) of the server; the kernel's socket buffers are not part"
echo "of it. Probe: connect, send one line, read its echo, timed from connect() to the echo."
echo
echo "Servers:"
for s in $SERVERS; do have "$s" || continue; PORT=PORT; server_cmd "$s"; printf -- '- %s: `%s`\n' "$s" "$(show_cmd "${SRV[@]}")"; done
echo "- client: \`c10k $HOST PORT $N SERVER_PID $PROBES\` (bench/c/c10k.c)"
