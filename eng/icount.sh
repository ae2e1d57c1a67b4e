#!/usr/bin/env bash
# Instructions per request of the middleware path, counted by callgrind (stable under machine load, unlike time).
# Usage: eng/icount.sh BENCH_BIN_DIR [REQUESTS] [MODES]   (BENCH_BIN_DIR: bench/Idem.Benchmarks/bin/Release/net10.0;
# MODES: default "bare first first-kept replay"). Slow: under valgrind on a loaded 2-core machine, 5-15 minutes a mode.
# Each mode warms up (3000 requests, then 3 s for tiered compilation), the counter is zeroed, then REQUESTS run.
set -euo pipefail
dir=$1; n=${2:-2000}; modes=${3:-"bare first first-kept replay"}
cd "$dir"
for mode in $modes; do
  out=$(mktemp); fifo=$(mktemp -u); mkfifo "$fifo"
  valgrind --tool=callgrind --callgrind-out-file="$out" dotnet Idem.Benchmarks.dll --drive "$mode" "$n" --pause < "$fifo" > "$out.stdout" 2>"$out.stderr" &
  pid=$!
  exec 3>"$fifo"
  until grep -q WARM "$out.stdout" 2>/dev/null; do sleep 1; done
  callgrind_control -z "$pid" > /dev/null
  echo go >&3; exec 3>&-
  wait "$pid"
  total=$(grep -E '^summary:|^totals:' "$out" | tail -1 | awk '{print $2}')
  echo "$mode: $(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", t / n }') instructions per request ($(grep -v WARM "$out.stdout"))"
  rm -f "$fifo" "$out" "$out".*
done
