#!/usr/bin/env bash
# The shared library's fast paths, as users link it (-lmapipc): the hot
# exports reach their thread state without __tls_get_addr (initial-exec
# TLS, src/local/) and call nothing through the PLT; and the library's TLS
# segment, which a dlopen takes from glibc's small static TLS surplus
# (the library is STATIC_TLS), stays within its budget.
# c_tests/run.sh runs this with LAB_BIN (a program directory under build/).
set -u
: "${LAB_BIN:?LAB_BIN must name a program directory under build/}"
lib="$LAB_BIN/../../lib/libmapipc.so"
failed=0

report() { # report NAME STATUS [DETAIL]
    if [ "$2" = 0 ]; then
        echo "ok $1"
    else
        failed=1
        [ -n "${3:-}" ] && echo "$3" | sed 's/^/    /'
        echo "not ok $1"
    fi
}

if ! command -v objdump >/dev/null || ! command -v readelf >/dev/null; then
    echo "# skipped: objdump/readelf not installed (binutils)"
    exit 0
fi

# The body of one function of the library, disassembled.
body() {
    objdump -d --no-show-raw-insn "$lib" | awk -v f="<$1>:" '$2 == f { on = 1; next } on && NF == 0 { exit } on'
}

hot_exports_make_no_tls_or_plt_calls() {
    local f out bad=""
    for f in mapipc_mutex_lock mapipc_mutex_unlock mapipc_read mapipc_write; do
        out=$(body "$f")
        [ -n "$out" ] || { echo "$f: not found in $lib"; return 1; }
        if echo "$out" | grep -E '__tls_get_addr|@plt' >/dev/null; then
            bad="$bad$f: $(echo "$out" | grep -E '__tls_get_addr|@plt' | head -n 3)"$'\n'
        fi
    done
    [ -z "$bad" ] || { echo "$bad"; return 1; }
}

# glibc's surplus for libraries loaded later is 512 bytes by default
# (glibc.rtld.optional_static_tls), shared by all of them.
tls_segment_within_budget() {
    local size
    size=$(readelf -lW "$lib" | awk '$1 == "TLS" { print $6 }')
    [ -n "$size" ] || { echo "no TLS segment found"; return 1; }
    if [ $((size)) -gt 320 ]; then
        echo "TLS segment is $((size)) bytes; the budget is 320 (see src/local/mod.rs)"
        return 1
    fi
}

for t in hot_exports_make_no_tls_or_plt_calls tls_segment_within_budget; do
    out=$($t 2>&1)
    report "$t" $? "$out"
done
exit $failed
