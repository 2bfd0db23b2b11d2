#!/usr/bin/env bash
# examples/share_server.c and share_client.c, run as a user runs them:
# clients get their own memfd region over a UNIX socket and talk through
# the channels in it; killing the processes leaves nothing anywhere.
# c_tests/run.sh runs this with LAB_BIN (where the example_* programs are)
# and, for the valgrind pass, LAB_WRAP (the command each program runs under).
set -u
: "${LAB_BIN:?LAB_BIN must name the directory of the example_* programs}"
read -r -a WRAP <<< "${LAB_WRAP:-}"
failed=0

run() { # run PROGRAM ARGS...: an example program, under the wrapper if any
    local prog=$1; shift
    "${WRAP[@]}" "$LAB_BIN/example_$prog" "$@"
}

case_() {
    local name=$1 dir rc
    dir=$(mktemp -d "./$name.XXXXXX")
    # A failing case must not leave its processes running.
    (cd "$dir" && set -e && server= client= \
        && trap 'kill -9 $server $client 2>/dev/null || true' EXIT && "$name") > "$dir.log" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
        echo "ok $name"
    else
        failed=1
        sed 's/^/    /' "$dir.log"
        echo "not ok $name"
    fi
    rm -rf "$dir" "$dir.log"
}

expect_eq() { # expect_eq WHAT GOT WANT
    if [ "$2" != "$3" ]; then
        printf '%s: got [%s], want [%s]\n' "$1" "$2" "$3" >&2
        return 1
    fi
}

# For `spawn PROGRAM ARGS... &`: the job is the program itself (its pid is $!).
spawn() {
    local prog=$1; shift
    exec "${WRAP[@]}" "$LAB_BIN/example_$prog" "$@"
}

# Starts the server on $1 (with optional client count $2); its output comes
# through fd 5; returns once it listens. Sets $server.
start_server() {
    mkfifo server.out
    spawn share_server "$@" > server.out &
    server=$!
    exec 5< server.out
    local line
    read -r -u 5 line
    expect_eq "server" "$line" "listening on $1"
}

# Starts a client on $1 that reads fd 3 and prints to fd 4. Sets $client.
start_client() {
    mkfifo in out
    spawn share_client "$1" < in > out &
    client=$!
    exec 3> in 4< out
}

# Two clients at once, each with its own region; the server counts each
# client's lines separately and exits after serving both.
two_clients_talk() {
    local sock="@mapipc-test-share-$$-$RANDOM" line
    start_server "$sock" 2
    start_client "$sock"
    echo "hello from a" >&3
    read -r -u 4 line
    expect_eq "a, first" "$line" "client 1, line 1: hello from a"
    expect_eq "b" "$(printf 'hi\nbye\n' | run share_client "$sock")" \
        "$(printf 'client 2, line 1: hi\nclient 2, line 2: bye')"
    echo "again" >&3
    read -r -u 4 line
    expect_eq "a, second" "$line" "client 1, line 2: again"
    exec 3>&-
    wait "$client"
    wait "$server"
    read -r -u 5 line
    expect_eq "server" "$line" "served 2 clients"
    exec 4<&- 5<&-
    rm in out server.out
}

# A socket with a path: the server removes it when it is done.
socket_path_is_removed() {
    start_server ./talk.sock 1
    expect_eq "client" "$(echo one | run share_client ./talk.sock)" "client 1, line 1: one"
    wait "$server"
    exec 5<&-
    [ ! -e talk.sock ] || { echo "talk.sock is left" >&2; return 1; }
    rm server.out
}

# Killed mid-conversation, server and client leave no process holding
# their memory. (They never name anything: run.sh checks /dev/shm for the
# whole run; a per-case look would see other programs' objects come and go.)
killing_leaves_nothing() {
    local sock="@mapipc-test-share-$$-$RANDOM" line handler
    start_server "$sock"
    start_client "$sock"
    echo "are you there" >&3
    read -r -u 4 line
    expect_eq "reply" "$line" "client 1, line 1: are you there"
    handler=$(cat "/proc/$server/task/$server/children")
    handler=${handler%% *}
    grep -q "memfd:share_server client 1" "/proc/$handler/maps" \
        || { echo "the handler does not map its memfd" >&2; return 1; }
    kill -9 "$server" "$client"
    wait "$server" "$client" 2>/dev/null || true
    # The handler dies with the server (PR_SET_PDEATHSIG); wait for it.
    timeout 20 tail --pid="$handler" -f /dev/null
    if grep -ls "memfd:share_server" /proc/[0-9]*/maps 2>/dev/null | grep -q .; then
        echo "a process still maps a share_server memfd" >&2; return 1
    fi
    exec 3>&- 4<&- 5<&-
    rm in out server.out
}

for c in two_clients_talk socket_path_is_removed killing_leaves_nothing; do
    case_ "$c"
done
exit $failed
