#!/usr/bin/env bash
# make demo: a narrated tour built from the seed labs (examples/labs), run
# in a scratch directory. Usage: demo.sh BIN_DIR MAPIPC
# (BIN_DIR: where lab_*, example_* and misuse are; MAPIPC: the command).
set -eu
bin=$(cd "$1" && pwd)
mapipc=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d)
temp_name="/mapipc-demo-$$"
sender=
# If a step fails, nothing it made may outlive the demo: the System V
# segments of the labs, the temporary object and the process holding it.
cleanup() {
    [ -n "$sender" ] && { kill -9 "$sender"; wait "$sender"; } 2>/dev/null
    rm -f "/dev/shm$temp_name"
    cd "$work" || return 0
    [ -e keytest ] && "$bin/lab_sysv_reader" >/dev/null 2>&1
    [ -e shmdemo.key ] && "$bin/lab_shmdemo" -r >/dev/null 2>&1
    cd / && rm -rf "$work"
}
trap 'cleanup || true' EXIT
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

step "a crash leaves nothing nobody needs: temporary objects, mapipc ls, mapipc gc"
say "\$ shmdemo 'kept for later'    # seed 004's System V segment; shmdemo maps it, writes, exits"
say "$("$bin/lab_shmdemo" 'kept for later')"
# ftok's key of shmdemo.key with project id 'R' (0x52), as in the System V step.
shm_key=$(printf '0x%08x' $(( (0x52 << 24) | (($(stat -c %d shmdemo.key) & 0xff) << 16) | ($(stat -c %i shmdemo.key) & 0xffff) )))
# Runs mapipc ls, keeps its output in $listing, shows this demo's rows.
ls_ours() {
    listing=$("$mapipc" ls)
    printf '%s\n' "$listing" | awk -v n="$temp_name" -v k="$shm_key" 'NR == 1 || $2 == n || $2 == k' | sed 's/^/     /'
}
say "\$ temporary_sender $temp_name &   # MAPIPC_TEMPORARY object with a channel; sends 3 messages"
mkfifo sender.in sender.out
"$bin/example_temporary_sender" "$temp_name" < sender.in > sender.out &
sender=$!
exec 6> sender.in 7< sender.out
read -r line <&7
say "$line"
say "\$ mapipc ls"
ls_ours
say "\$ kill -9 <temporary_sender>   # no unmap, no exit handler: the kernel drops its lock"
{ kill -9 "$sender"; wait "$sender" || true; } 2>/dev/null
dead=$sender
sender=
exec 6>&- 7<&-
say "\$ mapipc ls"
ls_ours
printf '%s\n' "$listing" | grep -q "^posix *$temp_name .* stale .* snd $dead dead" \
    || { say "mapipc ls does not show the object stale and its sender dead!"; exit 1; }
say "\$ mapipc inspect $temp_name   # only reads: the 3 messages stay queued"
"$mapipc" inspect "$temp_name" | sed 's/^/     /'
say "\$ mapipc gc     # (this demo's line; it removes any stale temporary object on the machine)"
collected=$("$mapipc" gc)
printf '%s\n' "$collected" | grep -F "removed $temp_name " | sed 's/^/     /'
[ ! -e "/dev/shm$temp_name" ] || { say "mapipc gc left the stale object!"; exit 1; }
say "\$ mapipc ls     # the temporary object is gone; shmdemo's segment stays: nobody said it was temporary"
ls_ours
printf '%s\n' "$listing" | grep -q "^sysv *$shm_key " || { say "shmdemo's segment went too!"; exit 1; }
say "\$ shmdemo; shmdemo -r    # the lab reads its segment, then removes it: the demo leaves nothing"
say "$("$bin/lab_shmdemo")"
say "$("$bin/lab_shmdemo" -r)"
listing=$("$mapipc" ls)
! printf '%s\n' "$listing" | grep -q "^sysv *$shm_key " || { say "shmdemo's segment is still there!"; exit 1; }
rm shmdemo.key sender.in sender.out

step "the labs' mistakes, made on purpose"
"$bin/misuse"

printf '\ndemo finished\n'
