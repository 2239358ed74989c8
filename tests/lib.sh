# Sourced by the CLI tests (tests/cli/*.sh): where the data is, and the standard way to skip.
#   need_shared PATH...   skip (print "SKIP: reason", exit 77) unless every PATH exists under
#                         $SCFM_SHARED_DATA (the team's real data, ../shared/data; users lack it)
#   need_registry_data    set BARON to the folder of the registry data (scripts/fetch_data:
#                         PyPI came==0.1.13, fetched once into .cache/scfm-data); skip when it
#                         cannot be downloaded (offline); fail when what is there fails its checks
# tests/run_tests.sh counts exit 77 as skipped, and as failed under CI=true.
D=${SCFM_SHARED_DATA:-../shared/data}
need_shared() {
    local p
    for p in "$@"; do
        if [ ! -e "$D/$p" ]; then
            echo "SKIP: needs the team's real data: $D/$p not found (SCFM_SHARED_DATA)"
            exit 77
        fi
    done
}
need_registry_data() {
    local log rc=0
    log=$(mktemp)
    BARON=$(bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/fetch_data" 2>"$log") || rc=$?
    if [ "$rc" -eq 3 ]; then
        cat "$log"; rm -f "$log"
        echo "SKIP: the registry data (PyPI came==0.1.13) could not be downloaded (offline?)"
        exit 77
    fi
    cat "$log"; rm -f "$log"
    if [ "$rc" -ne 0 ]; then echo "FAIL: scripts/fetch_data exit $rc"; exit 1; fi
}
