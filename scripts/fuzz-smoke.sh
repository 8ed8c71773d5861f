#!/usr/bin/env bash
# A short run of every cargo-fuzz target (docs/fuzzing.md): each for FUZZ_SECONDS (20) from the
# seeds below, after `cargo test` in scripts/test.sh. Needs a nightly toolchain; installs
# cargo-fuzz when missing. Any crash, timeout or leak fails the script (libFuzzer exits non-zero
# and leaves the input in fuzz/artifacts/<target>/).
# Usage: scripts/fuzz-smoke.sh [target...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(session intake inspect pdf config auth archive)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# Seeds go to a scratch directory so the run writes nothing into the tree.
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
seed() { # seed TARGET FILE... : copies files (names flattened) into the target's seed directory
  local t="$1"; shift
  mkdir -p "$seeds/$t"
  local f
  for f in "$@"; do cp "$f" "$seeds/$t/$(printf '%s' "$f" | tr '/ ' '__')"; done
}
seed session fuzz/seeds/session/*
seed config config/*.toml
seed intake tests/fixtures/mime/*.eml
seed auth fuzz/seeds/auth/* tests/fixtures/mime/*.eml
mapfile -t invoices < <(find tests/fixtures/invoices -type f \( -name '*.xml' -o -name '*.pdf' \))
seed inspect "${invoices[@]}"
# The pdf target reads 8 bytes of limits before the PDF: large ones, and small ones.
mkdir -p "$seeds/pdf"
for f in tests/fixtures/invoices/facturx/*.pdf; do
  name="$(basename "$f")"
  { printf '\377\377\377\377\377\377\377\377'; cat "$f"; } >"$seeds/pdf/large-$name"
  { printf '\020\000\100\000\010\000\020\000'; cat "$f"; } >"$seeds/pdf/small-$name"
done

# The archive target reads 8 bytes of limits before a zip or gzip (the first byte's low bit: gzip).
mkdir -p "$seeds/archive"
python3 - "$seeds/archive" <<'PY'
import gzip, io, os, sys, zipfile
out = sys.argv[1]
xml = open("tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml", "rb").read()
knobs = bytes([0, 7, 255, 255, 15, 0, 16, 0])
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("INV-1.xml", xml)
    z.writestr("INV-1.pdf", b"%PDF-1.4\n")
open(os.path.join(out, "zip"), "wb").write(knobs + buf.getvalue())
open(os.path.join(out, "gz"), "wb").write(bytes([1]) + knobs[1:] + gzip.compress(xml))
PY

# One build for every target, then the runs. A smoke run is short and compiles from scratch on
# a fresh machine, so it builds for compile time: no AddressSanitizer (the crate forbids unsafe
# code; a panic or a hang is what we look for) and 16 codegen units instead of cargo-fuzz's one.
# The long runs of docs/fuzzing.md use cargo-fuzz's defaults.
build=(--sanitizer none --codegen-units 16)
(cd fuzz && cargo +nightly fuzz build "${build[@]}")
for t in "${targets[@]}"; do
  extra=()
  # Messages: keep inputs to message-header sizes, so 20 seconds are many runs.
  case "$t" in intake | auth) extra=(-max_len=65536) ;; esac
  echo "fuzz-smoke.sh: $t for ${seconds}s" >&2
  (cd fuzz && cargo +nightly fuzz run "${build[@]}" "$t" "$seeds/$t" -- \
    -max_total_time="$seconds" "${extra[@]}" -print_final_stats=1)
done
