#!/usr/bin/env bash
# Reduced precision inference (--precision bf16 and int8; int8 also with avx512_bf16 masked,
# i.e. with float32 attention) of scfm embed and scfm perturb against fp32, on the registry data (Baron 2016 human pancreas, scripts/fetch_data; skipped
# only when it cannot be downloaded): a small model pretrained a few steps on the cells, then
# for each of bf16 and int8 that the CPU has:
#  - embed fp32 vs it (800 cells): cosine of every cell's embedding >= 0.999 (numpy);
#  - perturb --delete fp32 vs it on 8 cells: the top-20 genes by mean shift overlap in at
#    least 16 of 20 (reported), and the raw shifts agree (cosines to 1e-3 for bf16, 3e-3 for
#    int8);
#  - bad --precision values are usage errors; with SCFM_CPU_DISABLE=avx512_bf16 (avx512_vnni)
#    bf16 (int8) is refused naming the feature and fp32 still runs.
# The comparisons are skipped (exit 77) on a CPU with neither avx512_bf16 nor avx512_vnni
# (after the checks that run everywhere).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # need_registry_data
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fails() { # what, exit code wanted, message part, command...
    local what=$1 want=$2 msg=$3 rc=0; shift 3
    "$@" > /dev/null 2> "$T/err" || rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -q -- "$msg" "$T/err"; then
        echo "FAIL $what: exit $rc (want $want)"; cat "$T/err"; exit 1
    fi
    echo "ok $what: $(grep -- "$msg" "$T/err" | head -1)"
}
# bad values: usage errors before anything is read
fails "embed --precision fp16" 2 "precision 'fp16' is not fp32, bf16 or int8" \
    "$BIN" embed /nonexistent -m /nonexistent -o "$T/x.npy" --precision fp16
fails "perturb --precision BF16" 2 "precision 'BF16' is not fp32, bf16 or int8" \
    "$BIN" perturb /nonexistent -m /nonexistent -o "$T/x.tsv" --delete --precision BF16
fails "embed --precision without value" 2 "needs a value" "$BIN" embed /nonexistent -m /nonexistent -o "$T/x.npy" --precision
SCFM_CPU_DISABLE=avx512_bf16 "$BIN" --version | grep -q "^bf16 inference: not available (.*avx512_bf16" ||
    { echo "FAIL: --version under SCFM_CPU_DISABLE=avx512_bf16"; exit 1; }
SCFM_CPU_DISABLE=avx512_vnni "$BIN" --version | grep -q "^int8 inference: not available (.*avx512_vnni" ||
    { echo "FAIL: --version under SCFM_CPU_DISABLE=avx512_vnni"; exit 1; }

need_registry_data              # BARON=.cache/scfm-data/baron
H=$BARON/raw-Baron_human.h5ad
"$BIN" vocab build "$H" -o "$T/v" --symbols 2> /dev/null
"$BIN" tokenize "$H" -o "$T/c" --vocab "$T/v/vocab.tsv" --medians "$T/v/medians.tsv" --obs cell_type1 \
    --max-len 256 2> /dev/null
NV=$(wc -l < "$T/v/vocab.tsv")
# 4 layers, H 128, 4 heads (head size 32): pretrained 30 steps so that attention is not uniform
"$BIN" pretrain "$T/c" -o "$T/run" --config small-cpu --set vocab_size="$NV" --set max_position_embeddings=256 \
    --batch-size 8 --max-steps 30 --lr 2e-3 --warmup-steps 3 --log-every 10 --eval-every 30 --save-every 30 \
    --val-fraction 0.05 --seed 3 > /dev/null 2> "$T/pt.err"
MD=$T/run/final

# refusal under SCFM_CPU_DISABLE, on embed and perturb; fp32 unaffected
for pf in bf16:avx512_bf16 int8:avx512_vnni; do
    p=${pf%%:*} f=${pf#*:}
    fails "embed $p refused under SCFM_CPU_DISABLE" 1 "$p inference is not available here: the CPU lacks $f" \
        env SCFM_CPU_DISABLE="$f" "$BIN" embed "$T/c" -m "$MD" -o "$T/refused.npy" --precision "$p" --max-cells 4
    test ! -e "$T/refused.npy"
    fails "perturb $p refused under SCFM_CPU_DISABLE" 1 "lacks $f" \
        env SCFM_CPU_DISABLE="$f" "$BIN" perturb "$T/c" -m "$MD" -o "$T/refused.tsv" --delete --max-cells 2 \
        --precision "$p"
    test ! -e "$T/refused.tsv"
done
SCFM_CPU_DISABLE=avx512_bf16,avx512_vnni "$BIN" embed "$T/c" -m "$MD" -o "$T/masked32.npy" --max-cells 4 \
    > /dev/null 2>&1

LOWP=""
for p in bf16 int8; do
    if "$BIN" --version | grep -q "^$p inference: available"; then LOWP="$LOWP $p"
    else echo "not compared: $("$BIN" --version | grep "^$p inference")"; fi
done
if [ -z "$LOWP" ]; then
    echo "SKIP: neither bf16 nor int8 inference is available here"
    exit 77
fi

"$BIN" embed "$T/c" -m "$MD" -o "$T/e32.npy" --max-cells 800 > "$T/e32.out" 2> /dev/null
grep -q "^precision	fp32$" "$T/e32.out"
P=(--delete --max-cells 8 --batch-tokens 8192)
"$BIN" perturb "$T/c" -m "$MD" -o "$T/p32.tsv" --shifts "$T/s32.tsv" "${P[@]}" > /dev/null 2> /dev/null
# int8 runs its attention on the bf16 kernels where the CPU has them: also compare the
# float32-attention variant (what a CPU with VNNI and no BF16 runs)
RUNS=$LOWP
[[ " $LOWP " == *" bf16 "* && " $LOWP " == *" int8 "* ]] && RUNS="$RUNS int8-f32att"
for p in $RUNS; do
prec=${p%-f32att} ENVP=()
[ "$p" = "$prec" ] || ENVP=(env SCFM_CPU_DISABLE=avx512_bf16)
"${ENVP[@]}" "$BIN" embed "$T/c" -m "$MD" -o "$T/e_$p.npy" --max-cells 800 --precision "$prec" > "$T/e_$p.out" 2> /dev/null
grep -q "^precision	$prec$" "$T/e_$p.out"
echo "embed seconds: fp32 $(sed -n 's/^seconds\t//p' "$T/e32.out"), $p $(sed -n 's/^seconds\t//p' "$T/e_$p.out")"
"$PY" - "$T" "$p" <<'PY'
import sys
import numpy as np
t, p = sys.argv[1], sys.argv[2]
a, b = np.load(f"{t}/e32.npy").astype(np.float64), np.load(f"{t}/e_{p}.npy").astype(np.float64)
m = np.load(f"{t}/masked32.npy")
assert a.shape == b.shape and a.shape[0] == 800, (a.shape, b.shape)
assert np.array_equal(m, np.load(f"{t}/e32.npy")[:4]), "fp32 differs under SCFM_CPU_DISABLE"
cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
rel = np.linalg.norm(a - b) / np.linalg.norm(a)
print(f"embed {p} vs fp32 on {a.shape[0]} cells x {a.shape[1]}: cosine min {cos.min():.6f} mean {cos.mean():.6f}, "
      f"relative difference {rel:.2e}")
assert cos.min() >= 0.999, cos.min()
assert rel > 0, f"{p} equals fp32 exactly: {p} not used"
PY

"${ENVP[@]}" "$BIN" perturb "$T/c" -m "$MD" -o "$T/p_$p.tsv" --shifts "$T/s_$p.tsv" "${P[@]}" --precision "$prec" \
    > /dev/null 2> /dev/null
"$PY" - "$T" "$p" <<'PY'
import csv, sys
import numpy as np
t, p = sys.argv[1], sys.argv[2]
def rows(f):
    return list(csv.DictReader(open(f), delimiter="\t"))
p32, plo = rows(f"{t}/p32.tsv"), rows(f"{t}/p_{p}.tsv")
assert {r["gene"] for r in p32} == {r["gene"] for r in plo}
def top(rs, k=20):  # largest effect: lowest mean cos(perturbed, original) = most negative shift
    return [r["gene"] for r in sorted(rs, key=lambda r: (float(r["mean_shift"]), r["gene"]))[:k]]
ov = len(set(top(p32)) & set(top(plo)))
ovp = len({r["gene"] for r in p32[:20]} & {r["gene"] for r in plo[:20]})
s32 = {(r["gene"], r["cell"]): float(r["cos"]) for r in rows(f"{t}/s32.tsv")}
slo = {(r["gene"], r["cell"]): float(r["cos"]) for r in rows(f"{t}/s_{p}.tsv")}
assert s32.keys() == slo.keys()
d = np.array([slo[k] - s32[k] for k in s32])
x = np.array([1 - s32[k] for k in s32]); y = np.array([1 - slo[k] for k in s32])
r = np.corrcoef(x, y)[0, 1]
print(f"perturb --delete {p}, 8 cells, {len(p32)} genes, {len(s32)} shifts: top-20 by mean shift overlap {ov}/20, "
      f"top-20 of the table (by p) {ovp}/20; cos max |{p} - fp32| {np.abs(d).max():.2e}, "
      f"correlation of 1 - cos {r:.4f}")
assert ov >= 16, ov
assert np.abs(d).max() <= (1e-3 if p == "bf16" else 3e-3), np.abs(d).max()
PY
done
echo "lowp_embed_perturb: ok"
