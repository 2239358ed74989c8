#!/usr/bin/env bash
# scfm report end to end on real runs: 600 labelled PBMC4k cells (../shared/data; skipped when
# absent) tokenized with Geneformer V1's dictionaries, a tiny model pretrained 30 steps, a cell-type
# classifier fine-tuned, cell embeddings (.h5ad) and an in-silico deletion table. The report of that
# folder is rendered in headless Chromium (a screenshot is taken and must not be blank; the DOM
# Chromium built must hold every part), and the HTML is parsed: every part exists, its figures equal
# the run's own files (metrics.json, confusion.tsv, log.jsonl, corpus info, the perturb table), the
# 2-D maps draw one point per mapped cell per obs column, and the page loads nothing from outside
# (no script, no external reference).
set -euo pipefail
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
CHROMIUM=${SCFM_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -d "$D/human/pbmc4k_labeled" ] || { echo "SKIP: needs the team's real data: needs ../shared/data (human/pbmc4k_labeled)"; exit 77; }
[ -n "$CHROMIUM" ] || { echo "FAIL: chromium not found (scripts/setup installs Debian's chromium)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
V1=$D/geneformer/v1
R=$T/runs
mkdir -p "$R"
"$PY" - "$D/human/pbmc4k_labeled" "$T/in" <<'PY'
import os, sys, shutil
import scipy.io
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
X = scipy.io.mmread(os.path.join(src, "matrix.mtx.gz")).tocsc()[:, :600]
scipy.io.mmwrite(os.path.join(d, "matrix.mtx"), X.tocoo(), field="integer")
shutil.copy(os.path.join(src, "genes.tsv"), d)
lines = open(os.path.join(src, "barcodes.tsv")).read().splitlines()[:600]
open(os.path.join(d, "barcodes.tsv"), "w").write("".join(l + "\n" for l in lines))
lab = open(os.path.join(src, "labels.tsv")).read().splitlines()[:601]
open(os.path.join(d, "labels.tsv"), "w").write("".join(l + "\n" for l in lab))
PY
"$BIN" tokenize "$T/in" -o "$R/corpus" --vocab $V1/token_dictionary.tsv.gz \
    --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --max-len 64 --obs label 2> /dev/null
"$BIN" pretrain "$R/corpus" -o "$R/pretrain" --config tiny --batch-size 8 --max-steps 30 --lr 1e-3 --warmup-ratio 0.1 \
    --val-fraction 0.05 --val-max-cells 60 --eval-every 10 --save-every 30 --log-every 5 --baseline --seed 1 > /dev/null 2>&1
"$BIN" finetune "$R/corpus" -m "$R/pretrain/final" -o "$R/celltype" --label label --drop-label '?' --max-steps 60 \
    --eval-every 20 --batch-size 16 --lr 1e-3 --warmup-steps 5 --seed 1 > /dev/null 2>&1
"$BIN" embed "$R/corpus" -m "$R/pretrain/final" -o "$R/cells.h5ad" --max-cells 400 2> /dev/null
echo "scfm perturb corpus -m pretrain/final -o perturb.tsv --delete --genes CD74,HLA-DRA,LYZ,S100A9 ..." > "$R/perturb.tsv.cmd"
"$BIN" perturb "$R/corpus" -m "$R/pretrain/final" -o "$R/perturb.tsv" --delete --genes CD74,HLA-DRA,LYZ,S100A9,CD3E \
    --gene-names $V1/gene_name_id_dict.tsv.gz --max-cells 30 --null-genes 5 --seed 1 > /dev/null 2>&1
"$BIN" corpus info "$R/corpus" > "$T/corpus_info.txt"

"$BIN" report "$R" -o "$T/report.html" --title "report test" --map-cells 300 --map-iter 300 2> "$T/report.log"
grep -q "wrote $T/report.html (5 parts)" "$T/report.log" || { cat "$T/report.log"; exit 1; }

# headless Chromium: screenshot and the DOM it built
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,9000 \
    --screenshot="$T/report.png" "file://$T/report.html" > /dev/null 2>&1
"$CHROMIUM" --headless --no-sandbox --disable-gpu --dump-dom "file://$T/report.html" 2> /dev/null > "$T/dom.html"

"$PY" - "$T" "$R" <<'PY'
import json, re, sys
from html.parser import HTMLParser
import numpy as np
from PIL import Image
T, R = sys.argv[1], sys.argv[2]

# the screenshot: full size, and not blank (many distinct colours: text, charts, map points)
im = Image.open(f"{T}/report.png").convert("RGB")
assert im.size == (1200, 9000), im.size
a = np.asarray(im)
colours = len(np.unique((a[..., 0].astype(np.int32) << 16) | (a[..., 1].astype(np.int32) << 8) | a[..., 2]))
dark = (a.sum(2) < 200).mean()
assert colours > 50 and 0.001 < dark < 0.5, (colours, dark)
print(f"screenshot: {im.size}, {colours} colours, {dark:.3%} dark pixels")

class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.keys = {}; s.stack = []; s.ids = set(); s.tags = {}; s.svg_circles = {}; s.cur_svg = None
        s.scripts = 0; s.ext = []; s.text = []
    def handle_starttag(s, tag, attrs):
        d = dict(attrs); s.tags[tag] = s.tags.get(tag, 0) + 1
        if "id" in d: s.ids.add(d["id"])
        if tag == "svg": s.cur_svg = d.get("id"); s.svg_circles[s.cur_svg] = 0
        if tag == "circle" and s.cur_svg: s.svg_circles[s.cur_svg] += 1
        if tag == "script": s.scripts += 1
        for k, v in d.items():
            if k in ("src", "href") and v and not v.startswith("#"): s.ext.append(v)
        s.stack.append([tag, d.get("data-key"), d.get("data-value")]); s.text.append("")
    def handle_endtag(s, tag):
        while s.stack:
            t, key, val = s.stack.pop()
            text = s.text.pop()
            if key: s.keys[key] = val if val is not None else text.strip()
            if s.stack: s.text[-1] += text
            if t == tag: break
        if tag == "svg": s.cur_svg = None
    def handle_data(s, data):
        if s.text: s.text[-1] += data

def parse(path):
    p = P(); p.feed(open(path, encoding="utf-8").read()); return p
h, dom = parse(f"{T}/report.html"), parse(f"{T}/dom.html")
assert h.scripts == 0 and not h.ext, (h.scripts, h.ext)
for part in ["summary", "corpus-1", "pretrain-1", "finetune-1", "embedding-1", "perturb-1"]:
    assert part in h.ids, part
    assert part in dom.ids, "Chromium's DOM lacks " + part
for svg in ["corpus-1-lengths", "pretrain-1-loss", "pretrain-1-accuracy", "finetune-1-confusion", "perturb-1-shifts"]:
    assert svg in h.ids and svg in dom.ids, svg
k = h.keys
assert dom.keys == k, "Chromium read other figures than the file holds"

def close(key, want, rel=1e-3):
    got = float(k[key])
    assert abs(got - want) <= rel * max(1e-12, abs(want)) + 1e-12, (key, got, want)

# corpus: against scfm corpus info
info = open(f"{T}/corpus_info.txt").read()
cells, tokens = map(int, re.search(r"cells (\d+), tokens (\d+)", info).groups())
close("corpus-1.cells", cells); close("corpus-1.tokens", tokens)
cj = json.load(open(f"{R}/corpus/corpus.json"))
close("corpus-1.source0.genes_in_vocab", cj["sources"][0]["genes_in_vocab"])
# pretraining: the last train and eval lines of log.jsonl
log = [json.loads(l) for l in open(f"{R}/pretrain/log.jsonl")]
tr = [l for l in log if l["type"] == "train"]; ev = [l for l in log if l["type"] == "eval"]
close("pretrain-1.final_train_loss", tr[-1]["loss"]); close("pretrain-1.steps", tr[-1]["step"])
for f in ["val_loss", "val_top1", "val_top10", "base_top1", "base_top10"]:
    close(f"pretrain-1.final_{f}", ev[-1][f])
close("summary.pretrain-1.final_val_top1", ev[-1]["val_top1"])
# fine-tuning: metrics.json
m = json.load(open(f"{R}/celltype/metrics.json"))
close("finetune-1.accuracy", m["accuracy"]); close("finetune-1.macro_f1", m["macro_f1"])
close("summary.finetune-1.accuracy", m["accuracy"])
for q in ["n_train", "n_val", "n_test"]: close(f"finetune-1.{q}", m[q])
for i, c in enumerate(m["classes"]):
    for f in ["precision", "recall", "f1", "support"]:
        close(f"finetune-1.class{i}.{f}", m["per_class"][c][f])
conf = [l.split("\t")[1:] for l in open(f"{R}/celltype/confusion.tsv").read().splitlines()[1:]]
total = sum(int(x) for row in conf for x in row)
assert total == m["n_test"], (total, m["n_test"])
# embeddings: 400 cells, 300 on the map, one point per cell per obs column (+ legend dots)
close("embedding-1.cells", 400); close("embedding-1.cells_mapped", 300)
maps = [s for s in h.svg_circles if s and s.startswith("embedding-1-map-")]
assert len(maps) == 1, ("one map per obs column (label)", maps)
assert "coloured by label" in open(f"{T}/report.html").read()
assert " embed " in open(f"{T}/report.html").read(), "the embedding's command (uns/scfm_command) is shown"
for s in maps: assert h.svg_circles[s] >= 300, (s, h.svg_circles[s])
# perturbation: the table's rows, in order
rows = [l.split("\t") for l in open(f"{R}/perturb.tsv").read().splitlines()]
hd, rows = rows[0], rows[1:]
close("perturb-1.rows", len(rows))
close("perturb-1.significant", sum(r[hd.index("significant")] == "1" for r in rows))
for i, r in enumerate(rows):
    assert k[f"perturb-1.row{i}.name"] == r[hd.index("name")]
    for f in ["mean_shift", "z", "p", "fdr"]:
        close(f"perturb-1.row{i}.{f}", float(r[hd.index(f)]), rel=2e-3)
html = open(f"{T}/report.html").read()
assert "scfm perturb corpus -m pretrain/final" in html, "the .cmd sidecar is shown"
assert m["command"].replace("&", "&amp;").split()[1] in html and "pretrain" in html
print(f"report: {len(k)} figures checked against the runs, {len(maps)} maps")
PY

# bad input
fail() { # pattern -- args
    local pat=$1; shift 2
    if "$BIN" report "$@" 2> "$T/err" > /dev/null; then echo "FAIL: exit 0 for $*"; exit 1; fi
    grep -qF -- "$pat" "$T/err" || { echo "FAIL: message lacks '$pat':"; cat "$T/err"; exit 1; }
    [ ! -e "$T/out.html" ] || { echo "FAIL: output left behind"; exit 1; }
    echo "ok error: $(tail -1 "$T/err")"
}
fail "$T/nope: No such file or directory" -- "$T/nope" -o "$T/out.html"
mkdir "$T/empty"
fail "no scfm output here" -- "$T/empty" -o "$T/out.html"
cp -r "$R/celltype" "$T/badft"; echo '{"classes": [' > "$T/badft/metrics.json"
fail "$T/badft/metrics.json" -- "$T/badft" -o "$T/out.html"
cp -r "$R/pretrain" "$T/badpt"; echo 'not json' >> "$T/badpt/log.jsonl"
fail "$T/badpt/log.jsonl: line" -- "$T/badpt" -o "$T/out.html"
cp -r "$R/celltype" "$T/badconf"; head -2 "$R/celltype/confusion.tsv" > "$T/badconf/confusion.tsv"
fail "confusion.tsv" -- "$T/badconf" -o "$T/out.html"
chmod 000 "$T/badconf/metrics.json"
if [ "$(id -u)" != 0 ]; then fail "metrics.json" -- "$T/badconf" -o "$T/out.html"; fi
printf 'gene\ttoken_id\tname\tn_cells\tmean_shift\tz\tp\tfdr\tsignificant\tmean_cos\nX\t5\tX\t3\tabc\t1\t0.5\t0.5\t0\t0.9\n' > "$T/bad.tsv"
fail "'abc' is not a number" -- "$T/bad.tsv" -o "$T/out.html"
echo hello > "$T/x.txt"
fail "not an scfm output" -- "$T/x.txt" -o "$T/out.html"
printf 'garbage' > "$T/bad.h5ad"
fail "$T/bad.h5ad" -- "$T/bad.h5ad" -o "$T/out.html"
fail "-o report.html is required" -- "$R"
fail "at least one run" -- -o "$T/out.html"
fail "$T/nodir/out.html" -- "$R/celltype" -o "$T/nodir/out.html"
echo "report: ok"
