#!/usr/bin/env bash
# Table-driven command-line checks (no data needed): `--help` (and -h, and --help after other
# arguments) of every command and sub-command prints usage on stdout and exits 0; every long
# command documents --threads; every numeric option given a bad value ('abc', and a negative
# or zero value where the range excludes it) is refused before any work with exit status 2
# and a message naming the option. (The one-line summaries and the progress lines:
# tests/cli/cli_summary.sh.)
set -uo pipefail
BIN=${SCFM_BIN:-build/scfm}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
COMMANDS=(tokenize corpus "corpus info" "corpus export" "corpus merge" vocab "vocab build" "vocab merge" pretrain
          model "model init" "model info" "model forward" "model train" embed finetune predict perturb
          "perturb aggregate" priors "priors build" "priors build coexpression" "priors build family"
          "priors build grn" grn map report)
for c in "${COMMANDS[@]}"; do
    for form in "--help" "-h" "/nonexistent --help"; do
        # shellcheck disable=SC2086
        if ! $BIN $c $form > "$T/out" 2> "$T/err"; then echo "FAIL: scfm $c $form exits $?"; fail=1; continue; fi
        grep -qi "usage" "$T/out" || { echo "FAIL: scfm $c $form prints no usage on stdout"; fail=1; }
    done
done
# sub-commands have their own help where they have their own options
$BIN perturb aggregate --help | grep -q "^usage: scfm perturb aggregate" || { echo "FAIL: perturb aggregate help"; fail=1; }
# every long command takes --threads (and says so)
for c in tokenize "vocab build" pretrain "model forward" "model train" embed finetune predict perturb "priors build" \
         grn map report; do
    # shellcheck disable=SC2086
    $BIN $c --help | grep -q -- "--threads" || { echo "FAIL: scfm $c --help does not mention --threads"; fail=1; }
done
# command | arguments that parse | numeric options
while IFS='|' read -r cmd base opts; do
    [ -z "$cmd" ] && continue
    for o in $opts; do
        for bad in abc -7; do
            # shellcheck disable=SC2086
            $BIN $cmd $base "$o" "$bad" > "$T/out" 2> "$T/err"
            rc=$?
            key=${o#--}
            if [ $rc -ne 2 ] || ! grep -qiE -- "(${key}|${key//-/_})" "$T/err"; then
                # -7 may be in range (e.g. --layer): then it must not be a usage error about the value
                if [ "$bad" = "-7" ] && [ "$o" = "--layer" ]; then continue; fi
                echo "FAIL: scfm $cmd $o $bad: exit $rc: $(head -c 200 "$T/err")"; fail=1
            fi
        done
    done
done <<'TABLE'
tokenize|/nonexistent -o /nonexistent/out|--max-len --threads --chunk --read-memory --shard-cells --ortholog-min-support
embed|/nonexistent -m /nonexistent -o /nonexistent/e.tsv|--layer --max-cells --batch-tokens --batch-cells --threads
finetune|/nonexistent -m /nonexistent -o /nonexistent/o --label l|--val-frac --test-frac --folds --train-fraction --min-class-fraction --max-cells-per-class --epochs --max-steps --batch-size --lr --warmup-steps --weight-decay --max-grad-norm --freeze-layers --eval-every --patience --log-every --seed --threads
predict|/nonexistent -m /nonexistent -o /nonexistent/p.tsv|--batch-size --threads
perturb|/nonexistent -m /nonexistent -o /nonexistent/p.tsv --delete|--shift-fraction --max-cells --cell-range --goal-cells --null-genes --seed --batch-tokens --batch-cells --threads --mixture-reg
perturb aggregate|/nonexistent -o /nonexistent/a.tsv|--mixture-reg
pretrain|/nonexistent -o /nonexistent/run|--batch-size --lr --warmup-steps --stop-at --max-steps --epochs --threads
vocab build|/nonexistent -o /nonexistent/v|--min-cells --ortholog-min-support --threads
vocab merge|/nonexistent -o /nonexistent/v|--min-cells --threads
model init|--config tiny --vocab /nonexistent -o /nonexistent/m|--seed
model forward|/nonexistent --tokens /nonexistent -o /nonexistent/f.safetensors|--labels --threads
model train|/nonexistent --tokens /nonexistent -o /nonexistent/o|--steps --lr --seed --threads
priors build grn|/nonexistent -o /nonexistent/p|--threshold --lr --max-cells --min-cells --max-group --dim --epochs --negative --seed --threads
grn|/nonexistent -m /nonexistent -o /nonexistent/g --network /nonexistent|--max-cells --min-tf-cells --null-genes --seed --max-tfs --batch-tokens --batch-cells --threads
map|/nonexistent -o /nonexistent/m.tsv|--pca-dims --iter --max-cells --seed --threads --perplexity
report|/nonexistent -o /nonexistent/r.html|--map-cells --map-iter --seed --rows --threads --perplexity
TABLE
[ $fail -eq 0 ] && echo ok
exit $fail
