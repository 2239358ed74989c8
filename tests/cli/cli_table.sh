#!/usr/bin/env bash
# Table-driven command-line checks (no data needed): `--help` of every command and
# sub-command prints usage on stdout and exits 0; every numeric option given a bad value
# ('abc', and a negative or zero value where the range excludes it) is refused before any work
# with exit status 2 and a message naming the option.
set -uo pipefail
BIN=${SCFM_BIN:-build/scfm}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
for c in tokenize "corpus info" "corpus export" "vocab build" "vocab merge" "model init" "model info" \
         "model forward" "model train" pretrain embed finetune predict perturb; do
    # shellcheck disable=SC2086
    if ! $BIN $c --help > "$T/out" 2> "$T/err"; then echo "FAIL: scfm $c --help exits $?"; fail=1; continue; fi
    grep -qi "usage" "$T/out" || { echo "FAIL: scfm $c --help prints no usage on stdout"; fail=1; }
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
perturb|/nonexistent -m /nonexistent -o /nonexistent/p.tsv --delete|--shift-fraction --max-cells --goal-cells --null-genes --seed --batch-tokens --batch-cells --threads
pretrain|/nonexistent -o /nonexistent/run|--batch-size --lr --warmup-steps --stop-at --max-steps --epochs --threads
vocab build|/nonexistent -o /nonexistent/v|--min-cells
model init|--config tiny --vocab /nonexistent -o /nonexistent/m|--seed
model train|/nonexistent --tokens /nonexistent -o /nonexistent/o|--steps --lr --seed
TABLE
[ $fail -eq 0 ] && echo ok
exit $fail
