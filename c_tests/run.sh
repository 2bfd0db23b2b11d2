#!/usr/bin/env bash
# Runs every C test program, linked statically and dynamically, built with
# AddressSanitizer + UBSan, and the dynamically linked ones again under
# valgrind (any error or definite leak fails). A case that cannot run under
# a tool says "# skipped under TOOL: NAME", and that line is shown. Each run gets a fresh empty working directory, removed afterwards.
# Counts the "ok" / "not ok" case lines; a program that fails without a
# "not ok" line counts as one failure. Fails if System V segments or
# /dev/shm objects were left behind. Ends with "N passed, N failed".
# An optional second argument names the passes to run (default "static
# shared asan valgrind"; "rasan" is the library's own Rust code built with
# ASan, in BUILD_DIR/rasan).
set -u
dir=${1:?usage: run.sh BUILD_DIR [PASSES]}
dir=$(cd "$dir" && pwd)
passes=${2:-static shared asan valgrind}
passed=0
failed=0
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mapipc-ctest.XXXXXX")
# Readable by the unprivileged user the permission tests switch to.
chmod 0711 "$scratch"
trap 'rm -rf "$scratch"' EXIT

shm_state() {
    # System V segments (key, id) and POSIX objects, one per line.
    { awk 'NR > 1 { print "sysv", $1, $2 }' /proc/sysvipc/shm 2>/dev/null
      ls -1 /dev/shm 2>/dev/null | sed 's/^/posix /'; } | sort
}
before=$(shm_state)

have_valgrind=0
command -v valgrind >/dev/null 2>&1 && have_valgrind=1
case " $passes " in *" valgrind "*) ;; *) have_valgrind=-1 ;; esac
if [ "$have_valgrind" = 0 ]; then
    if [ "${CI:-}" = true ]; then
        echo "valgrind is required in CI (.ci/run installs it)" >&2; exit 1
    fi
    echo "NOTE: valgrind not found: the valgrind pass is skipped (apt-get install valgrind)"
fi

run_one() { # label, binary, [wrapper...]
    local label=$1 bin=$2; shift 2
    local work out rc ok notok
    work=$(mktemp -d "$scratch/run.XXXXXX")
    chmod 0777 "$work"
    out="$work.log"
    (cd "$work" && MAPIPC_TEST_BIN_DIR=$(dirname "$bin") "$@" "$bin") >"$out" 2>&1
    rc=$?
    ok=$(grep -c '^ok ' "$out")
    notok=$(grep -c '^not ok ' "$out")
    if [ "$rc" != 0 ] && [ "$notok" = 0 ]; then notok=1; fi
    passed=$((passed + ok))
    failed=$((failed + notok))
    if [ "$notok" != 0 ]; then
        echo "FAIL $label (exit $rc):"
        sed 's/^/    /' "$out"
    else
        echo "pass $label: $ok cases"
        grep '^# skipped' "$out" | sed 's/^/    /'
    fi
    leftover=$(find "$work" -mindepth 1 | head -n 5)
    if [ -n "$leftover" ]; then
        echo "FAIL $label left files behind:"; echo "$leftover" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
    rm -rf "$work" "$out"
}

vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=no
    --fair-sched=yes)

# Sanitizers: SIGBUS and SIGSEGV stay with the program (mapipc's handler,
# or the default death the tests expect), as without them; leaks are
# reported at exit.
san_env=(env ASAN_OPTIONS=handle_sigbus=0:handle_segv=0:detect_leaks=1:exitcode=98
         UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 MAPIPC_TEST_UNDER_SANITIZER=1)

# The programs of one pass: BUILD_DIR/PASS, the valgrind pass using the
# shared build.
pass_dir() { if [ "$1" = valgrind ]; then echo "$dir/shared"; else echo "$dir/$1"; fi; }
pass_env() { # the wrapper a pass runs its programs under
    case $1 in
        asan|rasan) echo "${san_env[@]}" ;;
        valgrind) echo env MAPIPC_TEST_UNDER_VALGRIND=1 "${vg[@]}" ;;
    esac
}
first=$(pass_dir "${passes%% *}")

for bin in "$first"/test_*; do
    name=$(basename "$bin")
    for pass in $passes; do
        [ "$pass" = valgrind ] && [ "$have_valgrind" != 1 ] && continue
        # shellcheck disable=SC2046 # the wrapper is words
        run_one "$pass/$name" "$(pass_dir "$pass")/$name" $(pass_env "$pass")
    done
done

# Shell tests drive programs (the labs) themselves: they get the program
# directory, and for the valgrind pass the command to run each program under.
here=$(cd "$(dirname "$0")" && pwd)
for script in "$here"/test_*.sh; do
    [ -e "$script" ] || continue
    name=$(basename "$script" .sh)
    for pass in $passes; do
        case $pass in
            valgrind)
                [ "$have_valgrind" = 1 ] || continue
                LAB_BIN="$dir/shared" LAB_WRAP="${vg[*]}" MAPIPC_TEST_UNDER_VALGRIND=1 \
                    run_one "valgrind/$name" "$script" ;;
            *)
                # shellcheck disable=SC2046
                LAB_BIN="$dir/$pass" run_one "$pass/$name" "$script" $(pass_env "$pass") ;;
        esac
    done
done

after=$(shm_state)
new=$(comm -13 <(echo "$before") <(echo "$after"))
if [ -n "$new" ]; then
    echo "FAIL: shared memory left behind by the tests (now removed):"
    echo "$new" | sed 's/^/    /'
    echo "$new" | awk '$1 == "sysv" { print $3 }' | xargs -r -n1 ipcrm -m 2>/dev/null
    echo "$new" | awk '$1 == "posix" { print "/dev/shm/" $2 }' | xargs -r rm -f
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
