#!/usr/bin/env bash
# make demo: a narrated tour built from the seed labs (examples/labs), run
# in a scratch directory. Usage: demo.sh BIN_DIR (where lab_* and misuse are).
set -eu
bin=$(cd "$1" && pwd)
work=$(mktemp -d)
# If a step fails, the segment of step 3 must not outlive the demo.
trap '(cd "$work" && [ -e keytest ] && "$bin/lab_sysv_reader" >/dev/null 2>&1) || true; rm -rf "$work"' EXIT
cd "$work"

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }

step "two processes share a mapped file (seed 000: write.c, read.c)"
say "\$ mmap_write mapFile     # maps 256 bytes, creating the file 0600 with real blocks"
say "$("$bin/lab_mmap_write" mapFile)"
say "\$ mmap_read mapFile      # a second process maps the same file, doubles the number"
say "$("$bin/lab_mmap_read" mapFile)"
say "the file now holds: $(head -n 1 mapFile)   (mode $(stat -c %a mapFile))"

step "parent and child share anonymous memory (seed 002)"
say "the parent writes 10 and 20, a pipe tells the child (no sleep), the child prints the sum:"
say "$("$bin/lab_anon_sum")"

step "a reader sleeps until a writer wakes it (seed 003 without sleep(1) or polling)"
say "\$ sync_reader shared 26 &   # maps the file, sleeps in mapipc_wait until 26 bytes are there"
"$bin/lab_sync_reader" shared 26 > reader.out &
reader=$!
say "\$ sync_writer shared 26     # each byte under the file's robust mutex, then mapipc_wake"
"$bin/lab_sync_writer" shared 26
wait "$reader"
say "the reader woke and printed: $(cat reader.out)"
rm shared reader.out

step "the file shrinks under a reader (seed 003's reader; the writer truncates the file)"
for mode in raw copy guarded; do
    "$bin/lab_file_writer" test 2048
    case $mode in
        raw) say "\$ truncated_reader test raw        # reads through the pointer, as the lab did" ;;
        copy) say "\$ truncated_reader test copy       # reads with mapipc_read" ;;
        guarded) say "\$ truncated_reader test guarded    # maps with MAPIPC_GUARDED" ;;
    esac
    set +e
    out=$("$bin/lab_truncated_reader" test "$mode" 2>&1)
    rc=$?
    set -e
    printf '%s\n' "$out" | sed 's/^/   /'
    [ $rc -gt 128 ] && say "-> killed by signal $((rc - 128)) ($(kill -l $((rc - 128))))"
    [ $rc = 0 ] && say "-> exited cleanly"
done
rm test

step "two processes chat through two channels (seed 004's chat, without polling)"
say "\$ printf 'hello b\\nhow are you?\\nbye\\n' | chat_channel talk a &"
say "\$ printf 'hi a\\nfine, thanks\\n' | chat_channel talk b"
printf 'hello b\nhow are you?\nbye\n' | "$bin/lab_chat_channel" talk a > a.out &
a=$!
printf 'hi a\nfine, thanks\n' | "$bin/lab_chat_channel" talk b > b.out
wait "$a"
say "what a printed:"
sed 's/^/       /' a.out
say "what b printed:"
sed 's/^/       /' b.out
say "(each line one message; end of input closes a side's channel and ends the other's receive)"
rm talk a.out b.out

step "a chat server and three clients: one many-sender channel in, one channel back to each client, one epoll"
say "\$ printf 'welcome\\n' | chat_server room serve 3 &"
say "\$ printf 'hi all\\n' | chat_server room client 0   (and clients 1 and 2, at once)"
printf 'welcome\n' | "$bin/lab_chat_server" room serve 3 > server.out &
s=$!
for k in 0 1 2; do
    printf 'hi all, %s here\nbye from %s\n' "$k" "$k" | "$bin/lab_chat_server" room client "$k" > "c$k.out" &
done
wait
say "what the server printed:"
sed 's/^/       /' server.out
for k in 0 1 2; do
    say "what client $k printed:"
    sed 's/^/       /' "c$k.out"
done
say "(clients wrote in place with reserve/commit; the server read in place with peek/release)"
rm room server.out c0.out c1.out c2.out

step "two processes share a System V segment (seed 003: writer, reader)"
: > keytest
say "\$ sysv_writer            # ftok(\"keytest\", 100), created mode 0600"
say "$("$bin/lab_sysv_writer")"
# ftok's key: project id, low byte of the device, low 16 bits of the inode.
key=$(( (100 << 24) | (($(stat -c %d keytest) & 0xff) << 16) | ($(stat -c %i keytest) & 0xffff) ))
say "$(awk -v k="$key" 'NR > 1 && $1 == k { printf "in the kernel: key 0x%08x, id %s, mode %s, %s bytes, attached %s times", k, $2, $3, $4, $7 }' /proc/sysvipc/shm)"
say "\$ sysv_reader            # prints, detaches, removes"
say "$("$bin/lab_sysv_reader")"
say "\$ sysv_reader            # again: the segment is gone, and mapipc says so"
say "$("$bin/lab_sysv_reader" 2>&1 || true)"
rm keytest

step "no names at all: a server hands each client a memfd region over a UNIX socket"
sock="@mapipc-demo-$$"
shm_before=$(ls -1 /dev/shm | sort)
say "\$ share_server $sock &     # abstract socket: no file, and the memory has no name either"
mkfifo server.out a.in a.out
"$bin/example_share_server" "$sock" > server.out &
server=$!
exec 5< server.out
read -r line <&5
say "$line"
say "\$ share_client $sock       # client a, still talking"
"$bin/example_share_client" "$sock" < a.in > a.out &
client_a=$!
exec 3> a.in 4< a.out
echo "hello, I am a" >&3
read -r line <&4
say "a got: $line"
say "\$ printf 'hi, I am b\\nbye\\n' | share_client $sock"
printf 'hi, I am b\nbye\n' | "$bin/example_share_client" "$sock" | sed 's/^/   b got: /'
handler=$(cat "/proc/$server/task/$server/children")
handler=${handler%% *}
say "the server's process for a maps: $(grep -o '/memfd:[^(]*(deleted)' "/proc/$handler/maps" | head -n 1)"
say "\$ kill -9 <server> <client a>   # mid-conversation"
{ kill -9 "$server" "$client_a"; wait "$server" "$client_a" || true; } 2>/dev/null
timeout 20 tail --pid="$handler" -f /dev/null || true
exec 3>&- 4<&- 5<&-
left=$(grep -ls "memfd:share_server" /proc/[0-9]*/maps 2>/dev/null | wc -l)
[ "$left" = 0 ] || { say "a process still maps the memory!"; exit 1; }
say "no process maps the memory any more: the kernel freed it"
new=$(comm -13 <(echo "$shm_before") <(ls -1 /dev/shm | sort))
say "new in /dev/shm: ${new:-nothing} (share_server and share_client name nothing)"
rm server.out a.in a.out

step "the labs' mistakes, made on purpose"
"$bin/misuse"

printf '\ndemo finished\n'
