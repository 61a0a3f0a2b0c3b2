#!/bin/sh
# Run one of ferry's libFuzzer targets.  Called by `meson test --suite fuzz`.
#
#   run-fuzz.sh fuzz   BIN TARGET FUZZDIR ARTIFACTDIR MAXLEN
#       Fuzz for $FERRY_FUZZ_SECONDS seconds (default 30), starting from a
#       copy of FUZZDIR/corpus/TARGET in a temporary directory: the
#       checked-in corpus is never written.  A crashing input is saved in
#       ARTIFACTDIR/TARGET/; keep it in FUZZDIR/regress/TARGET/.
#   run-fuzz.sh replay BIN TARGET FUZZDIR
#       Run every file of FUZZDIR/regress/TARGET/ and FUZZDIR/corpus/TARGET/
#       through the target once.
#   run-fuzz.sh valgrind BIN TARGET FUZZDIR VALGRIND
#       The same with BIN built without sanitizers (standalone.c), under
#       valgrind.
set -eu

mode=$1 bin=$2 target=$3 fuzzdir=$4
arg5=${5:-} arg6=${6:-}

case $mode in
replay|valgrind)
    set --
    for d in "$fuzzdir/regress/$target" "$fuzzdir/corpus/$target"; do
        [ -d "$d" ] || continue
        for f in "$d"/*; do
            [ -f "$f" ] && set -- "$@" "$f"
        done
    done
    if [ $# -eq 0 ]; then
        echo "$target: no inputs to replay"
        exit 0
    fi
    if [ "$mode" = valgrind ]; then
        exec "$arg5" -q --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect "$bin" "$@"
    fi
    # Files (not directories) as arguments: libFuzzer runs each once and
    # writes nothing.
    exec "$bin" -runs=1 "$@"
    ;;
fuzz)
    artifacts=$arg5/$target maxlen=$arg6
    secs=${FERRY_FUZZ_SECONDS:-30}
    case $secs in
    ''|*[!0-9]*) echo "FERRY_FUZZ_SECONDS must be a number of seconds" >&2
                 exit 2 ;;
    esac
    work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fuzz-$target.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$work/corpus" "$artifacts"
    if [ -d "$fuzzdir/corpus/$target" ]; then
        cp "$fuzzdir/corpus/$target"/* "$work/corpus/" 2>/dev/null || true
    fi
    dict=
    if [ -f "$fuzzdir/$target.dict" ]; then
        dict=-dict=$fuzzdir/$target.dict
    fi
    # The hard stop is a safety net should the run hang past its time.
    rc=0
    timeout -k 10 $((secs + 120)) "$bin" \
        -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" \
        ${dict:+"$dict"} "$work/corpus" || rc=$?
    if [ $rc -ne 0 ]; then
        echo "$target failed (status $rc); inputs are in $artifacts/." >&2
        echo "Keep each in $fuzzdir/regress/$target/ once fixed." >&2
    fi
    exit $rc
    ;;
*)
    echo "usage: $0 fuzz|replay|valgrind BIN TARGET FUZZDIR [...]" >&2
    exit 2
    ;;
esac
