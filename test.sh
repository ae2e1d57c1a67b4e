#!/usr/bin/env bash
# The one command that runs every Idem test: provisions PostgreSQL/Redis/RabbitMQ on loopback,
# runs `dotnet test` on the solution, packs the libraries and runs the samples' tests on those packages
# (samples/), and prints, as its last line,
#   tests: N passed, N failed[, N skipped]
# Extra arguments are passed to both `dotnet test` runs (e.g. ./test.sh --filter Category!=Slow).
# Exits non-zero if dotnet test failed, a test failed, no TRX was produced or nothing passed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
# CI (e.g. CI=true) is passed through unchanged.
if [ -n "${CI+set}" ]; then export CI; fi

RESULTS_DIR=artifacts/test-results

bash eng/provision.sh
# shellcheck source=/dev/null
. artifacts/test-services.env

rm -rf "$RESULTS_DIR"
mkdir -p "$RESULTS_DIR"

# -m:1: one MSBuild node, so test projects run one after another. On a 2-core machine this
# costs little, and test projects sharing the same database/Redis/broker cannot interfere.
set +e
dotnet test Idem.slnx -c Release -m:1 --logger "trx" --results-directory "$RESULTS_DIR" "$@"
test_rc=$?

# The samples install Idem as a user does, from packages: pack the libraries into a local feed (artifacts/packages,
# which samples/NuGet.config adds to the machine's sources) with a version of this run's own, so a package that an
# earlier run left in ~/.nuget/packages under the same version can never be used, then build the samples against
# that feed and run their tests, into the same results folder.
PACKAGES_DIR=artifacts/packages
rm -rf "$PACKAGES_DIR"
samples_rc=0
if dotnet pack eng/libraries.slnf -c Release -o "$PACKAGES_DIR" -p:VersionSuffix="local.$(date -u +%Y%m%d%H%M%S)"; then
  idem_version=$(basename "$(find "$PACKAGES_DIR" -name 'Idem.EntityFrameworkCore.*.nupkg' | head -n 1)" .nupkg)
  idem_version=${idem_version#Idem.EntityFrameworkCore.}
  dotnet test samples/Samples.slnx -c Release -m:1 -p:IdemVersion="$idem_version" \
    --logger "trx" --results-directory "$RESULTS_DIR" "$@" || samples_rc=$?
else
  samples_rc=$?
  echo "test.sh: packing the libraries for the samples failed" >&2
fi
set -e

# Sum the <Counters .../> of every TRX (one per test project). error/timeout/aborted count as
# failed; tests not executed (skipped) are reported as skipped.
trx_count=0
passed=0
failed=0
skipped=0
while IFS= read -r -d '' trx; do
  trx_count=$(( trx_count + 1 ))
  read -r p f s < <(tr -d '\r\n' <"$trx" | grep -o '<Counters [^>]*>' | head -n 1 | awk '
    {
      split("", v)
      n = split($0, parts, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (match(parts[i], /^[A-Za-z]+="[0-9]+"/)) {
          eq = index(parts[i], "=")
          key = substr(parts[i], 1, eq - 1)
          val = substr(parts[i], eq + 2)
          sub(/".*/, "", val)
          v[key] = val + 0
        }
      }
      # VSTest leaves notExecuted="0" for skipped tests; they show up as total - executed.
      skip = v["total"] - v["executed"]
      if (v["notExecuted"] > skip) skip = v["notExecuted"]
      if (skip < 0) skip = 0
      print v["passed"] + 0, v["failed"] + v["error"] + v["timeout"] + v["aborted"] + 0, skip + 0
    }
    END { if (NR == 0) print "0 0 0" }')
  passed=$(( passed + p ))
  failed=$(( failed + f ))
  skipped=$(( skipped + s ))
done < <(find "$RESULTS_DIR" -type f -name '*.trx' -print0)

status=0
if [ "$test_rc" -ne 0 ]; then
  echo "test.sh: dotnet test exited with $test_rc" >&2
  status=1
fi
if [ "$samples_rc" -ne 0 ]; then
  echo "test.sh: the samples' packing, build or tests exited with $samples_rc" >&2
  status=1
fi
if [ "$trx_count" -eq 0 ]; then
  echo "test.sh: no TRX files were produced in $RESULTS_DIR" >&2
  status=1
fi
if [ "$failed" -gt 0 ]; then
  echo "test.sh: $failed test(s) failed (see $RESULTS_DIR)" >&2
  status=1
fi
if [ "$passed" -eq 0 ]; then
  echo "test.sh: no test passed" >&2
  status=1
fi

if [ "$skipped" -gt 0 ]; then
  echo "tests: $passed passed, $failed failed, $skipped skipped"
else
  echo "tests: $passed passed, $failed failed"
fi
exit "$status"
