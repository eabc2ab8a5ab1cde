#!/usr/bin/env bash
# The wire benchmark: Guild's protocol, grpc-swift 2 and a bare TLS echo, side by side.
#   scripts/bench-wire.sh                      every workload, 5 rounds of 4 s per cell (about 9 minutes)
#   scripts/bench-wire.sh --duration 10        longer cells
#   scripts/bench-wire.sh --filter "64 B"      some workloads only
#   scripts/bench-wire.sh profile --kind guild --calls 50000 --wrapper "perf record -e cpu-clock -g -o server.data"
# The first build takes about ten minutes (gRPC, HTTP/2); see docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
swift build -c release --product guild-wire-bench
exec .build/release/guild-wire-bench "$@"
