#!/usr/bin/env bash
# Regenerates the Swift code for Shared/GuildMessages/Protos/**/*.proto.
# Needs protoc (Debian: protobuf-compiler, with libprotobuf-dev for the well-known types) and protoc-gen-swift built from swift-protobuf at the
# version Package.swift names; the plugin is built once into .build-protoc (slow: ~10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
PROTOS=Shared/GuildMessages/Protos
OUT=Shared/GuildMessages/Generated
PLUGIN="${PROTOC_GEN_SWIFT:-}"
if [[ -z "$PLUGIN" ]]; then
  if [[ ! -x .build-protoc/swift-protobuf/.build/release/protoc-gen-swift ]]; then
    command -v protoc >/dev/null || { echo "install protoc and its well-known types: apt-get install -y protobuf-compiler libprotobuf-dev" >&2; exit 1; }
    version=$(sed -n 's/.*swift-protobuf.git", from: "\([0-9.]*\)".*/\1/p' Package.swift)
    mkdir -p .build-protoc
    rm -rf .build-protoc/swift-protobuf
    git clone --quiet --depth 1 --branch "$version" https://github.com/apple/swift-protobuf.git .build-protoc/swift-protobuf
    (cd .build-protoc/swift-protobuf && swift build -c release --product protoc-gen-swift)
  fi
  PLUGIN=.build-protoc/swift-protobuf/.build/release/protoc-gen-swift
fi
rm -rf "$OUT"
mkdir -p "$OUT"
protoc --plugin=protoc-gen-swift="$PLUGIN" \
  --proto_path="$PROTOS" \
  --swift_opt=Visibility=Public \
  --swift_opt=FileNaming=PathToUnderscores \
  --swift_out="$OUT" \
  $(cd "$PROTOS" && find . -name '*.proto' | sed 's|^\./||' | sort)
echo "generated: $(ls "$OUT" | tr '\n' ' ')"
