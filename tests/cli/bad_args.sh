#!/usr/bin/env bash
# No command crashes on bad arguments (docs/robustness.md). Every command and sub-command is
# run with hostile argument vectors (none, options without values, empty strings, missing
# files, directories, /dev/null, garbage files, an empty JSON object); each must end with exit
# 1 or 2 and a message on stderr: never a signal (SIGSEGV was possible: `scfm model init
# --config nope` freed an uninitialised config), never a timeout, never exit 0. Then
# `scfm model init` with bad presets, config files and --set values: exit 1 or 2 with the
# message each must give, and no output directory. No data needed.
set -uo pipefail
BIN=${SCFM_BIN:-build/scfm}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/emptydir"
: > "$T/empty"
printf 'garbage\n\000\377' > "$T/junk"
echo '{}' > "$T/obj.json"
fail=0
check() { # exit status $1 of "scfm $2": 1 or 2 with a message (or, without arguments, the usage)
    local rc=$1; shift
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
        echo "FAIL: scfm $* exits $rc: $(tail -c 300 "$T/err")"; fail=1
    elif [ ! -s "$T/err" ] && [ ! -s "$T/out" ]; then
        echo "FAIL: scfm $* exits $rc with no message"; fail=1
    fi
}
CMDS=("tokenize" "corpus info" "corpus export" "corpus merge" "vocab build" "vocab merge" "model init" "model info"
      "model forward" "model train" "pretrain" "embed" "finetune" "predict" "perturb" "priors build" "grn" "map"
      "report" "corpus" "vocab" "model" "priors" "no-such-command")
ARGV=("" "-o" "''" "/nonexistent" "$T/junk" "$T/obj.json" "$T/emptydir" "/dev/null -o $T/o" "$T/empty -o $T/o"
      "$T/junk -m $T/emptydir -o $T/o --label x" "--config" "--config '' -o $T/o" "--resume $T/emptydir"
      "--threads 0")
n=0
for c in "${CMDS[@]}"; do
    for a in "${ARGV[@]}"; do
        eval "set -- $a"
        rm -rf "$T/o"
        # shellcheck disable=SC2086
        timeout 60 "$BIN" $c "$@" > "$T/out" 2> "$T/err" < /dev/null
        check $? "$c $a"
        [ -e "$T/o" ] && { echo "FAIL: scfm $c $a left $T/o"; fail=1; }
        n=$((n + 1))
    done
done
[ $fail -eq 0 ] && echo "$n hostile command lines: no crash, no success, a message each"

# model init: bad presets and configs (exit status, message)
echo '[1, 2]' > "$T/arr.json"
echo '{"hidden_size": 0}' > "$T/zero.json"
init_fails() { # expected exit, message, arguments...
    local want=$1 msg=$2; shift 2
    rm -rf "$T/o"
    timeout 60 "$BIN" model init "$@" -o "$T/o" > /dev/null 2> "$T/err" < /dev/null
    local rc=$?
    if [ $rc -ne "$want" ] || ! grep -qF -- "$msg" "$T/err" || [ -e "$T/o" ]; then
        echo "FAIL: model init $*: exit $rc (want $want), '$msg' expected: $(head -c 300 "$T/err")"; fail=1
    fi
}
init_fails 2 "unknown model preset 'nope' (known: geneformer-v1," --config nope
init_fails 2 "unknown model preset '' (known:" --config ''
init_fails 2 "--config: /nonexistent/config.json: no such file" --config /nonexistent/config.json
init_fails 2 "--config: tiny.json: no such file" --config tiny.json
init_fails 2 "is not a file (a config.json or a preset name)" --config "$T/emptydir"
init_fails 1 "arr.json: not a JSON object" --config "$T/arr.json"
init_fails 1 "obj.json: missing required field 'vocab_size'" --config "$T/obj.json"
init_fails 1 "junk: invalid JSON" --config "$T/junk"
init_fails 1 "empty: invalid JSON at byte 0" --config "$T/empty"
init_fails 1 "zero.json: missing required field" --config "$T/zero.json"
init_fails 2 "--set wants KEY=VALUE, got '='" --config tiny --set =
init_fails 2 "hidden_size" --config tiny --set hidden_size=abc
init_fails 2 "hidden_size" --config tiny --set hidden_size=-1
init_fails 2 "nosuch" --config tiny --set nosuch=1
init_fails 2 "hidden_size must be a multiple of num_attention_heads" --config tiny --set num_attention_heads=3
init_fails 2 "--head" --config tiny --head nope
init_fails 2 "needs --vocab" --config genecompass-small --prior-random
init_fails 1 "junk" --config tiny --vocab "$T/junk"
init_fails 2 "--homologs" --config tiny --homologs "$T/junk"
[ $fail -eq 0 ] && echo "model init: bad presets, configs and --set values refused with their messages"
exit $fail
