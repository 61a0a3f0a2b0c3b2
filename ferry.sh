#!/bin/sh
# ferry's quick start: set up a Debian 12 machine, then serve or test.
#
#   ./ferry.sh serve   install what ferry needs, build it, and serve ./srv
#                      on 127.0.0.1:2121 (anonymous, read-only; Ctrl-C stops)
#   ./ferry.sh test    install what the tests need, build, and run the whole
#                      suite: a normal build (its integration suite once more
#                      under valgrind), an ASan+UBSan build (without
#                      libsystemd, so the built-in socket-activation reader
#                      is tested too), a clang build, and a bounded fuzzing run
#   ./ferry.sh deps    only install the packages
#   ./ferry.sh build   only build (into ./build)
#
# Environment: FERRY_MODELS (comma list, default "all") picks the
# concurrency models the integration tests run against in the gcc build;
# FERRY_ASAN_MODELS (default "libev") those of the sanitizer build;
# FERRY_FUZZ_SECONDS bounds each fuzz target (default 30);
# FERRY_VALGRIND=0 skips the valgrind run; FERRY_SKIP_DEPS=1 skips apt-get.
set -eu

cd "$(dirname "$0")"

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "ferry.sh: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

BUILD_PKGS="build-essential meson ninja-build pkg-config libev-dev check libjemalloc-dev libedit-dev libcrypt-dev libinih-dev libsystemd-dev"
TEST_PKGS="prometheus python3-prometheus-client clang llvm libclang-rt-14-dev curl lftp wget python3 python3-pytest procps iproute2 valgrind vsftpd systemd gnuplot-nox"

deps() {
    [ "${FERRY_SKIP_DEPS:-0}" = 1 ] && return 0
    pkgs="$BUILD_PKGS"
    [ "${1:-}" = test ] && pkgs="$pkgs $TEST_PKGS"
    missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "ferry.sh: installing:$missing"
    # Keep package installs from starting services (vsftpd would take
    # port 21): a policy-rc.d that says no, removed again afterwards.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        made_policy=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    [ "$made_policy" = 1 ] && as_root rm -f /usr/sbin/policy-rc.d
    return 0
}

build() {
    dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}

cmd=${1:-}
case "$cmd" in
deps)
    deps "${2:-test}"
    ;;
build)
    deps build
    build build
    ;;
serve)
    deps build
    build build
    mkdir -p srv
    [ -e srv/README.txt ] || printf 'Served by ferry.  Put files in this folder.\n' > srv/README.txt
    echo "ferry.sh: serving $(pwd)/srv on ftp://127.0.0.1:2121/ (try: curl ftp://127.0.0.1:2121/)"
    # ferryd will not keep root: as root, it serves as nobody (the folder
    # is opened before the switch; its files need to be world-readable).
    drop=""
    [ "$(id -u)" = 0 ] && drop="--user nobody --group nogroup"
    exec ./build/src/ferryd --root srv --listen 127.0.0.1:2121 $drop
    ;;
test)
    deps test
    status=0
    echo "==> gcc build, -Werror, every test"
    build build
    # The valgrind run (the test itself names valgrind and pins the model,
    # libev) goes beside the main suite rather than after it: memcheck is
    # bound by one core, the main suite mostly waits on its clients.
    # Its output follows the main suite's.
    vg_pid=
    if [ "${FERRY_VALGRIND:-1}" != 0 ]; then
        meson test -C build --no-rebuild --print-errorlogs --num-processes 1 \
            --suite valgrind --logbase valgrind >build/valgrind-step.log 2>&1 &
        vg_pid=$!
    fi
    FERRY_MODELS=${FERRY_MODELS:-all} FERRY_VALGRIND= \
        meson test -C build --no-rebuild --print-errorlogs --verbose --num-processes 1 \
            --no-suite valgrind || status=1
    if [ -n "$vg_pid" ]; then
        vg_status=0
        wait "$vg_pid" || vg_status=1
        echo "==> gcc build, integration suite under valgrind memcheck"
        cat build/valgrind-step.log
        [ "$vg_status" = 0 ] || status=1
    fi
    echo "==> ASan+UBSan build, every test"
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dsystemd=disabled
    FERRY_MODELS=${FERRY_ASAN_MODELS:-libev} FERRY_VALGRIND= \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --print-errorlogs --num-processes 1 || status=1
    echo "==> clang build, -Werror, fuzz targets run for ${FERRY_FUZZ_SECONDS:-30}s each"
    CC=clang build build-clang -Dfuzz=true -Db_lundef=false
    meson test -C build-clang --print-errorlogs --suite unit --suite fuzz || status=1
    if [ "$status" = 0 ]; then echo "ferry.sh: all suites passed"; else echo "ferry.sh: FAILED"; fi
    exit $status
    ;;
*)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] || exit 2
    ;;
esac
