#!/usr/bin/env bash
# A checkpoint whose model.safetensors holds 200 000 tensors besides the model's (a 9 MB
# header): loading is linear (hash lookups: core/strmap.h), so it loads or is refused at once,
# and an error prints one line, not one per tensor; scfm model info lists 2000 tensors and
# counts the rest. Cases: 200k tensors of no known part (refused, naming the first), 200k of
# another head (loads, one line says they were ignored), two names of one parameter among
# 200k (refused, naming both). No data needed.
set -euo pipefail
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$BIN" model init --config tiny -o "$T/m" > /dev/null 2>&1

# add DIR PREFIX [ALIAS]: DIR = $T/m plus 200000 one-element tensors PREFIX0..; ALIAS: one
# more tensor with the name ALIAS (at the end of the header)
add() {
    cp -r "$T/m" "$1"
    "$PY" - "$1/model.safetensors" "$2" "${3:-}" <<'PY'
import json, struct, sys
p, prefix, alias = sys.argv[1:4]
b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = bytearray(b[8 + n:])
h["__metadata__"].pop("scfm_crc32", None)
for i in range(200000):
    h[f"{prefix}{i}"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(data), len(data) + 4]}
    data += b"\0\0\0\0"
if alias:
    src = h["bert.embeddings.word_embeddings.weight"]
    size = src["data_offsets"][1] - src["data_offsets"][0]
    h[alias] = {"dtype": "F32", "shape": src["shape"], "data_offsets": [len(data), len(data) + size]}
    data += b"\0" * size
hb = json.dumps(h).encode()
hb += b" " * (-len(hb) % 8)
open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + data)
PY
}

# expect_fail DIR MESSAGE: model info and embed-free load both refuse with MESSAGE on one line
expect_fail() {
    set +e
    "$BIN" model info "$1" > "$T/out" 2> "$T/err"; local rc=$?
    set -e
    [ $rc -eq 1 ] || { echo "$1: exit $rc"; head -3 "$T/err"; exit 1; }
    grep -q "$2" "$T/err" || { echo "$1: no '$2' in:"; head -3 "$T/err"; exit 1; }
    [ "$(wc -l < "$T/err")" -eq 1 ] || { echo "$1: $(wc -l < "$T/err") lines of errors"; exit 1; }
    [ "$(wc -l < "$T/out")" -lt 2100 ] || { echo "$1: $(wc -l < "$T/out") lines of output"; exit 1; }
    grep -q "^tensors (200042):" "$T/out" && grep -q "^  \.\.\. 198042 more not listed" "$T/out" ||
        { echo "$1: tensor count / not-listed line missing"; exit 1; }
    echo "$(basename "$1"): refused, $(wc -l < "$T/out") lines of info: $(cat "$T/err")"
}

add "$T/extra" bert.extra.
expect_fail "$T/extra" "model.safetensors: tensor 'bert.extra.0' is not part of the model config.json describes"

add "$T/alias" bert.extra. embeddings.word_embeddings.weight
# the alias (no "bert." prefix) is the same parameter as bert.embeddings.word_embeddings.weight
set +e
"$BIN" model info "$T/alias" > /dev/null 2> "$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && [ "$(wc -l < "$T/err")" -eq 1 ] &&
    grep -q "tensors 'bert.embeddings.word_embeddings.weight' and 'embeddings.word_embeddings.weight' are the same parameter" "$T/err" ||
    { echo "alias: exit $rc"; head -3 "$T/err"; exit 1; }
echo "alias: refused: $(cat "$T/err")"

add "$T/heads" cls.other.
"$BIN" model info "$T/heads" > "$T/out" 2> "$T/err"
grep -q "^loads as mlm: ok" "$T/out" && grep -q "200000 tensors of another head ignored" "$T/err" &&
    [ "$(grep -vc '^\[scfm' "$T/err")" -le 2 ] || { echo "other-head tensors:"; cat "$T/err"; tail -2 "$T/out"; exit 1; }
echo "heads: loads, $(grep -vc '^\[scfm' "$T/err") line(s) on stderr besides scfm's header and footer: $(grep -v '^\[scfm' "$T/err")"
