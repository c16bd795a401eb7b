#!/bin/sh
# Builds the libFuzzer targets under Tests/Fuzz/<name>/main.swift and runs each for FUZZ_SECONDS.
#
# Each target is compiled with swiftc as one module (named ProxySyncCore, so the target sees internal API)
# from the pure core files it needs plus its main.swift, with libFuzzer and AddressSanitizer (a stack overflow
# or an out-of-bounds read is reported, not just a trap). swift-log is not needed: only SyncEngine uses it.
#
#   FUZZ_SECONDS=30        seconds per target
#   FUZZ_TARGETS="json toml"  a subset (default: every directory under Tests/Fuzz with a main.swift)
#   FUZZ_JOBS=1            libFuzzer -jobs/-workers per target (1 on CI's two cores)
#
# The working corpus lives in .build-fuzz/corpus/<name> (seeded from Tests/Fuzz/<name>/corpus, which is
# never written to); a crash leaves its input in .build-fuzz/artifacts/<name>/ and fails the run.
# Reproduce one with: .build-fuzz/bin/<name> .build-fuzz/artifacts/<name>/crash-...
set -eu
cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
SWIFTC=${SWIFTC:-swiftc}
OUT=.build-fuzz
CORE=Sources/ProxySyncCore
# The pure part of the core: validation, planning, rendering, reading back, JSON, TOML, settings.
CORE_FILES="$(ls $CORE/Source/*.swift $CORE/Plan/*.swift $CORE/Render/*.swift $CORE/Settings/*.swift) $CORE/Diff/InstalledConfig.swift"
# The dump readers (proxy_dump) and what their collision rule needs.
CORE_FILES="$CORE_FILES $CORE/Diff/ProxyInventory.swift $(ls $CORE/Diff/NginxDumpReader*.swift) $CORE/Diff/ApacheDumpReader.swift"
CORE_FILES="$CORE_FILES $CORE/Diff/ApacheVirtualHostScanner.swift $CORE/Diff/Glob.swift $CORE/Diff/ServerNameMatch.swift"

TARGETS=${FUZZ_TARGETS:-$(for d in Tests/Fuzz/*/; do [ -f "$d/main.swift" ] && basename "$d"; done)}

max_len() {
    case "$1" in
        siteurl_render) echo 512 ;;    # two URLs; 2048 bytes each is the accepted maximum, longer is refused early
        gocd_response) echo 4096 ;;
        *) echo 4096 ;;
    esac
}

# Crashes go to libFuzzer's handler at once (the Swift backtracer would wait on ASan's report).
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:handle_abort=1}

mkdir -p "$OUT/bin"
failed=""
summary=""
for target in $TARGETS; do
    start=$(date +%s)
    echo "== build $target"
    # shellcheck disable=SC2086
    if ! $SWIFTC -swift-version 6 -parse-as-library -module-name ProxySyncCore -sanitize=fuzzer,address -O -g \
        -suppress-warnings $CORE_FILES "Tests/Fuzz/$target/main.swift" -o "$OUT/bin/$target" >"$OUT/$target.build.log" 2>&1
    then
        grep -v 'ld.gold: warning' "$OUT/$target.build.log" | tail -n 40
        failed="$failed $target(build)"
        continue
    fi
    built=$(date +%s)
    mkdir -p "$OUT/corpus/$target" "$OUT/artifacts/$target"
    log="$OUT/$target.log"
    echo "== fuzz $target for ${SECONDS_PER_TARGET}s (built in $((built - start))s)"
    status=0
    "$OUT/bin/$target" -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$target")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$target/" \
        "$OUT/corpus/$target" "Tests/Fuzz/$target/corpus" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs="?"
    if [ "$status" -ne 0 ]; then
        echo "!! $target FAILED (exit $status); last lines of $log:"
        grep -v '^    #' "$log" | tail -n 40
        ls "$OUT/artifacts/$target"/* 2>/dev/null || true
        failed="$failed $target"
    fi
    line=$(printf '%-16s %10s executions in %ss (build %ss)' "$target" "$runs" "$SECONDS_PER_TARGET" "$((built - start))")
    echo "$line"
    summary="$summary$line
"
done

echo "== fuzz summary"
printf '%s' "$summary"
if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed"
    exit 1
fi
echo "fuzz: no crashes"
