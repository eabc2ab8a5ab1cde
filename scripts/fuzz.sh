#!/usr/bin/env bash
# Fuzzes the wire protocol's frame decoder, handshake and connection state machine with libFuzzer.
#   scripts/fuzz.sh [seconds]        (default 60; the first build takes several minutes)
# Crashing inputs are written to .build-fuzz/artifacts/; replay one in a normal build with
#   swift run guild-wire-fuzz .build-fuzz/artifacts/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
SCRATCH=.build-fuzz
# SwiftPM passes each --sanitize to swiftc as a flag of its own, and swiftc keeps only the last
# -sanitize= it is given: with both, the Swift code would get AddressSanitizer and no coverage
# counters, and libFuzzer would find nothing "interesting" in it. The combined flag, given last
# through -Xswiftc, keeps both; the --sanitize options still set up clang and the link.
FLAGS=(--product guild-wire-fuzz --scratch-path "$SCRATCH" --sanitize=fuzzer --sanitize=address
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING)
swift build "${FLAGS[@]}"
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)/guild-wire-fuzz
CORPUS=$SCRATCH/corpus
mkdir -p "$CORPUS" "$SCRATCH/artifacts"
# Seed the corpus with the protocol document's test vectors.
python3 - "$CORPUS" <<'PY'
import pathlib, re, sys
text = pathlib.Path("docs/protocol.md").read_text()
for name, body in re.findall(r"```text\nvector: (\S+)\n(.*?)```", text, re.S):
    pathlib.Path(sys.argv[1], "vector-" + name).write_bytes(bytes.fromhex(body.replace("\n", " ")))
PY
"$BIN" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -artifact_prefix="$SCRATCH/artifacts/" -print_final_stats=1
