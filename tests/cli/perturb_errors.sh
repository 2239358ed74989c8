#!/usr/bin/env bash
# scfm perturb: bad inputs give a clear message, a non-zero exit and no output file.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"  # uses the team's ../shared/data (SCFM_SHARED_DATA): skipped without it
need_shared geneformer/v1 geneformer/v2 human/pbmc4k_labeled
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
V2=$D/geneformer/v2

"$PY" - "$D/human/pbmc4k_labeled" "$T/in" <<'PY'
import os, sys
import scipy.io
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, :6]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
open(os.path.join(d, "genes.tsv"), "w").write(open(os.path.join(src, "genes.tsv")).read())
bcs = open(os.path.join(src, "barcodes.tsv")).read().splitlines()[:6]
lab = dict(l.split("\t") for l in open(os.path.join(src, "labels.tsv")).read().splitlines()[1:])
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(b + "\n" for b in bcs))
open(os.path.join(d, "labels.tsv"), "w").write("barcode\tlabel\n" + "".join("%s\t%s\n" % (b, lab[b]) for b in bcs))
PY
"$BIN" tokenize "$T/in" -o "$T/c" --vocab $V1/token_dictionary.pkl --medians $V1/gene_median_dictionary.pkl \
    --gene-names $V1/gene_name_id_dict.pkl --max-len 64 --obs label > /dev/null 2>&1
"$BIN" tokenize "$T/in" -o "$T/c2" --mode v2 --vocab $V2/token_dictionary_gc104M.pkl \
    --medians $V2/gene_median_dictionary_gc104M.pkl --gene-names $V2/gene_name_id_dict_gc104M.pkl --max-len 64 > /dev/null 2>&1
"$BIN" model init --config tiny --vocab "$T/c/vocab.tsv" -o "$T/m" --seed 2 > /dev/null 2>&1
LAB=$(sed -n 2p "$T/c/obs.tsv" | cut -f2)
[ -n "$LAB" ]
NAMES=$V1/gene_name_id_dict.tsv.gz

n=0
fails() { # expected-message args...
    local msg=$1
    shift
    n=$((n + 1))
    rm -f "$T/o.tsv" "$T/s.tsv"
    if "$BIN" perturb "$@" > "$T/out" 2> "$T/err"; then
        echo "FAIL: succeeded: perturb $*"; exit 1
    fi
    if ! grep -q -- "$msg" "$T/err"; then
        echo "FAIL: perturb $*: message lacks '$msg':"; cat "$T/err"; exit 1
    fi
    if [ -e "$T/o.tsv" ] || [ -e "$T/s.tsv" ] || ls "$T"/o.tsv.tmp.* > /dev/null 2>&1; then
        echo "FAIL: perturb $*: left an output file"; exit 1
    fi
}
C=("$T/c" -m "$T/m" -o "$T/o.tsv" --shifts "$T/s.tsv")
fails "unknown gene 'NOTAGENE1'" "${C[@]}" --delete --genes ISG15,NOTAGENE1 --gene-names $NAMES
fails "unknown gene 'ISG15'" "${C[@]}" --delete --genes ISG15
fails "unknown gene 'ENSG99999999999'" "${C[@]}" --delete --genes ENSG99999999999
printf 'ISG15\nBOGUSGENE7\n' > "$T/gf"
fails "gene-file $T/gf: unknown gene 'BOGUSGENE7'" "${C[@]}" --delete --gene-file "$T/gf" --gene-names $NAMES
fails "cannot open" "${C[@]}" --delete --gene-file "$T/nonexistent"
fails "anchor: unknown gene 'NOPE'" "${C[@]}" --delete --anchor NOPE --genes ISG15 --gene-names $NAMES
fails "also among the genes" "${C[@]}" --delete --anchor ISG15 --genes ISG15,IFI6 --gene-names $NAMES
fails "no obs column 'state'" "${C[@]}" --delete --goal state=ctrl
fails "no cell has label=nosuchtype" "${C[@]}" --delete --goal label=nosuchtype
fails "no cell has label=nosuchtype" "${C[@]}" --delete --alt label=nosuchtype
fails "no cell has label=nosuchtype" "${C[@]}" --delete --cells label=nosuchtype
fails "vocabulary mismatch" "$T/c2" -m "$T/m" -o "$T/o.tsv" --delete
fails "overexpress needs --genes" "${C[@]}" --overexpress
fails "together needs --genes" "${C[@]}" --delete --together
fails "only one of" "${C[@]}" --delete --inhibit
fails "shift-fraction applies to --inhibit and --activate" "${C[@]}" --delete --shift-fraction 0.3
fails "shift-fraction" "${C[@]}" --inhibit --shift-fraction 1.5
fails "null-fixed needs --null-genes" "${C[@]}" --delete --null-fixed
fails "one of --delete, --overexpress, --inhibit, --activate is required" "${C[@]}"
fails "wants COL=VALUE" "${C[@]}" --delete --alt label
# a gene no cell has: nothing to report, an error (not an empty table)
ABSENT=$(sed -n 100p "$T/c/vocab.tsv" | cut -f1)
fails "no perturbation produced a shift" "${C[@]}" --delete --genes "$ABSENT"
# and a good run next to them works
"$BIN" perturb "${C[@]}" --inhibit --genes "$(sed -n 1p "$T/c/vocab.tsv" > /dev/null; "$PY" - "$T/c" <<'PY'
import sys
sys.path.insert(0, "scripts")
from corpus_to_numpy import read_corpus
c = read_corpus(sys.argv[1])
vocab = [l.split("\t")[0] for l in open(sys.argv[1] + "/vocab.tsv").read().splitlines() if l]
print(vocab[int(c["tokens"][0])])
PY
)" --alt "label=$LAB" > "$T/out" 2> "$T/err"
[ -s "$T/o.tsv" ] && [ -s "$T/s.tsv" ]
echo "perturb errors: ok ($n cases)"
