#!/usr/bin/env bash
# Checks a C header's names: every macro, type, tag and function it declares
# starts with mapipc_ or MAPIPC_ (a C program defines ALIGN or its own
# struct Outcome), and every declared function is exported by the shared
# library. Prints each offender and exits 1 if there is one.
# usage: header_names.sh HEADER LIBRARY.so
set -u
header=${1:?usage: header_names.sh HEADER LIBRARY.so}
lib=${2:?usage: header_names.sh HEADER LIBRARY.so}
# Comments stripped, directives kept, includes not expanded.
text=$(${CC:-cc} -fpreprocessed -dD -E -P "$header") || exit 1

macros=$(printf '%s\n' "$text" | sed -n 's/^#define \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p')
tags=$(printf '%s\n' "$text" | grep -oE '\b(struct|enum|union)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*' | awk '{print $2}')
# A typedef's name stands before the ";" that ends it outside any braces.
typedefs=$(printf '%s\n' "$text" | awk '
    /^typedef/ { t = 1; depth = 0 }
    t { depth += gsub(/{/, "{") - gsub(/}/, "}")
        if (depth == 0 && /;/) { sub(/;.*/, ""); sub(/.*}/, ""); print $NF; t = 0 } }')
# A declaration at top level: a line ending in ");" whose name precedes "(".
functions=$(printf '%s\n' "$text" | grep -E '\);[[:space:]]*$' | grep -v '^[[:space:]]' \
    | sed -E 's/^([^(]*[^A-Za-z0-9_(])?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\2/')

bad=0
for name in $macros $tags $typedefs $functions; do
    case $name in
        mapipc_*|MAPIPC_*) ;;
        *) echo "header declares $name, which lacks the mapipc_/MAPIPC_ prefix"; bad=1 ;;
    esac
done
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}')
for name in $functions; do
    printf '%s\n' "$exported" | grep -qx "$name" \
        || { echo "header declares $name(), which $lib does not export"; bad=1; }
done
[ -n "$functions" ] || { echo "no function found in $header: the check cannot read it"; bad=1; }
exit $bad
