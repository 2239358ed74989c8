#!/usr/bin/env bash
# Tokenizer throughput and memory: scfm tokenize vs the numpy reference
# (scripts/tokenize_reference.py) on all of ../shared/data/human (6 folders, ~9,900 cells) with
# Geneformer's V1 dictionaries, scfm on the same folders passed 8 times (~79,000 cells) to
# show that peak memory does not grow with the input, and scfm with --read-memory 0 (every mtx
# streamed in two passes, memory bounded by the chunk). Peak RSS and CPU time from /usr/bin/time -v,
# the least CPU time of REPEAT runs (REPEAT_REF for the reference). The speed-up is per core:
# CPU seconds of the single-threaded numpy reference / CPU seconds of scfm --threads 1.
# Usage: bash bench/bench_tokenize.sh   (env: SCFM_BIN, SCFM_PYTHON, SCFM_SHARED_DATA, REPEAT=5, REPEAT_REF=2)
# Results: a table on stdout and bench/out/bench_tokenize.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SCFM_SHARED_DATA:-../shared/data}
BIN=${SCFM_BIN:-build/scfm}
PY=${SCFM_PYTHON:-.venv/bin/python}
V1=$D/geneformer/v1
TOK=(--vocab $V1/token_dictionary.tsv.gz --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz)
IN=("$D"/human/*/)
IN8=()
for _ in 1 2 3 4 5 6 7 8; do IN8+=("${IN[@]}"); done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p bench/out
OUT=bench/out/bench_tokenize.txt

# run NAME OUTDIR command...: runs the command once (OUTDIR removed first) and appends
# "name wall cpu rss" to $T/runs.
run() {
    local name=$1 out=$2; shift 2
    [ -n "$out" ] && rm -rf "$out"
    /usr/bin/time -v "$@" > "$T/$name.out" 2> "$T/$name.err"
    local wall cpu rss
    wall=$(grep "Elapsed (wall clock)" "$T/$name.err" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    cpu=$(awk '/User time|System time/ {s += $NF} END {print s}' "$T/$name.err")
    rss=$(grep "Maximum resident set size" "$T/$name.err" | awk '{print $NF}')
    echo "$name $wall $cpu $rss" >> "$T/runs"
}
REPEAT=${REPEAT:-5}          # scfm runs per configuration
REPEAT_REF=${REPEAT_REF:-2}  # numpy reference runs
cells_of() { "$PY" -c "import json,sys; print(sum(s['n_cells_in'] for s in json.load(open(sys.argv[1]))['sources']))" "$1"; }

# The runs are interleaved (the reference between scfm runs) so that a slow spell of a shared
# machine touches both sides; each configuration keeps its run with the least CPU time.
for ((r = 0; r < REPEAT; r++)); do
    run scfm_1x_t1 "$T/c1" "$BIN" tokenize "${IN[@]}" -o "$T/c1" "${TOK[@]}" --threads 1
    run scfm_1x_t2 "$T/c2" "$BIN" tokenize "${IN[@]}" -o "$T/c2" "${TOK[@]}" --threads 2
    run scfm_8x_t1 "$T/c8" "$BIN" tokenize "${IN8[@]}" -o "$T/c8" "${TOK[@]}" --threads 1
    run scfm_1x_stream "$T/cs" "$BIN" tokenize "${IN[@]}" -o "$T/cs" "${TOK[@]}" --threads 1 --read-memory 0
    cmp "$T/c1/shard-00000.bin" "$T/c2/shard-00000.bin"
    cmp "$T/c1/shard-00000.bin" "$T/cs/shard-00000.bin"
    if ((r < REPEAT_REF)); then
        run numpy_1x "" "$PY" scripts/tokenize_reference.py "${IN[@]}" --vocab $V1/token_dictionary.tsv.gz \
            --medians $V1/gene_median_dictionary.tsv.gz --gene-names $V1/gene_name_id_dict.tsv.gz --compare "$T/c1"
        grep -q " 0 differ" "$T/numpy_1x.out"
    fi
done
sort -k1,1 -k3,3g "$T/runs" | awk '$1 != last { print; last = $1 }' > "$T/rows"
n1=$(cells_of "$T/c1/corpus.json")
n8=$(cells_of "$T/c8/corpus.json")
{
    echo "bench_tokenize: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), V1 dictionaries, inputs: ${#IN[@]} folders of $D/human"
    echo "$("$BIN" --version); least CPU time of $REPEAT runs (reference: $REPEAT_REF)"
    printf "%-14s %8s %9s %9s %12s %14s %10s\n" run cells wall_s cpu_s cells/s cells/cpu_s peak_MiB
    while read -r name wall cpu rss; do
        n=$n1; [[ $name == *8x* ]] && n=$n8
        awk -v nm="$name" -v n="$n" -v w="$wall" -v c="$cpu" -v r="$rss" \
            'BEGIN { printf "%-14s %8d %9.2f %9.2f %12.0f %14.0f %10.1f\n", nm, n, w, c, n / w, n / c, r / 1024 }'
    done < "$T/rows"
    awk 'NR==FNR && $1=="scfm_1x_t1" {s=$3} NR==FNR && $1=="numpy_1x" {p=$3} END {printf "per-core speed-up (least cpu time, 1 thread): %.1fx\n", p/s}' "$T/rows" "$T/rows"
    med() { grep "^$1 " "$T/runs" | sort -k3,3g | awk '{ v[NR] = $3 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    awk -v s="$(med scfm_1x_t1)" -v p="$(med numpy_1x)" 'BEGIN { printf "per-core speed-up (median cpu time: %.2f s vs %.2f s): %.1fx\n", s, p, p / s }'
    awk '$1=="scfm_1x_t1" {a=$4} $1=="scfm_8x_t1" {b=$4} END {printf "peak RSS 8x / 1x input: %.2f\n", b/a}' "$T/rows"
} | tee "$OUT"
