/* scfm report: one self-contained HTML page (inline SVG, no script) from scfm outputs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/report.h"

static const char *CMD = "report";

static void report_help(void) {
    printf("usage: scfm report RUN... -o report.html [options]\n\n"
           "One HTML file (inline SVG, no JavaScript, no network) from what each RUN holds:\n"
           "  corpus folder (corpus.json)      cells, tokens, genes reaching the vocabulary, length histogram\n"
           "  pretraining run (pretrain.json)  loss and masked-gene accuracy curves, evaluations, baseline;\n"
           "                                   the corpora it lists too\n"
           "  fine-tuning run (metrics.json)   accuracy, macro-F1, per-class precision/recall/F1, confusion matrix\n"
           "  embeddings (.h5ad/.npy/.tsv)     2-D map (PCA + t-SNE, as scfm map) coloured by each obs column\n"
           "  perturbation table (.tsv)        ranking with shifts, z, FDR\n"
           "  any other folder                 searched one level deep (e.g. a whole demo output folder)\n"
           "with the command and settings that made each part (a file F's command from F.cmd when present).\n"
           "  -o, --out FILE       the page (written atomically)\n"
           "  --title TEXT         page title (default 'scfm report')\n"
           "  --map-cells N        cells per 2-D map (seeded subsample, default 3000; 0 = all)\n"
           "  --map-iter N         t-SNE iterations (default 1000)\n"
           "  --perplexity P       t-SNE perplexity (default 30)\n"
           "  --seed S             subsample seed (default 0)\n"
           "  --rows N             perturbation rows shown (default 30)\n"
           "  --threads N          OpenMP threads (the maps do not depend on it)\n");
}

int cmd_report(int argc, char **argv) {
    const char *out = NULL, *title = NULL;
    const char **runs = calloc((size_t)argc, sizeof *runs);
    size_t nr = 0;
    scfm_report_opts o;
    scfm_report_opts_init(&o);
    long v = 0, threads = 0;
    double perp = 30;
    if (!runs) return cli_errorf(CMD, "out of memory");
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { report_help(); free(runs); return 0; }
        if (a[0] != '-' || !a[1]) { runs[nr++] = a; continue; }
        if (!val) { rc = cli_usage_error(CMD, "%s needs a value", a); break; }
        i++;
        if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = val;
        else if (!strcmp(a, "--title")) title = val;
        else if (!strcmp(a, "--map-cells")) { if (!(rc = cli_long(CMD, a, val, 0, LONG_MAX, &v))) o.map_max_cells = (size_t)v; }
        else if (!strcmp(a, "--map-iter")) { if (!(rc = cli_long(CMD, a, val, 0, 1000000, &v))) o.map.n_iter = (size_t)v; }
        else if (!strcmp(a, "--seed")) { if (!(rc = cli_long(CMD, a, val, 0, LONG_MAX, &v))) o.seed = (uint64_t)v; }
        else if (!strcmp(a, "--rows")) { if (!(rc = cli_long(CMD, a, val, 1, 100000, &v))) o.perturb_rows = (size_t)v; }
        else if (!strcmp(a, "--threads")) rc = cli_long(CMD, a, val, 1, 4096, &threads);
        else if (!strcmp(a, "--perplexity")) { if (!(rc = cli_double(CMD, a, val, 1e-3, 1e6, &perp))) o.map.perplexity = perp; }
        else rc = cli_usage_error(CMD, "unknown option %s", a);
    }
    if (!rc && !nr) rc = cli_usage_error(CMD, "at least one run folder or output file is required (see scfm report --help)");
    if (!rc && !out) rc = cli_usage_error(CMD, "-o report.html is required");
    if (rc) { free(runs); return rc; }
    if (o.map.exaggeration_iter > o.map.n_iter) o.map.exaggeration_iter = o.map.n_iter;
#ifdef SCFM_HAVE_OPENMP
    if (threads) omp_set_num_threads((int)threads);
#endif
    scfm_report *r = scfm_report_new(&o, title, cli_cmdline());
    if (!r) { free(runs); return cli_fail(CMD); }
    for (size_t i = 0; i < nr && !rc; i++) {
        size_t before = scfm_report_n_parts(r);
        if (scfm_report_add(r, runs[i])) rc = cli_fail(CMD);
        else fprintf(stderr, "scfm report: %s: %zu part(s)\n", runs[i], scfm_report_n_parts(r) - before);
    }
    if (!rc && scfm_report_write(r, out)) rc = cli_fail(CMD);
    if (!rc) {
        fprintf(stderr, "scfm report: wrote %s (%zu parts)\n", out, scfm_report_n_parts(r));
        cli_done(CMD, "%zu parts -> %s", scfm_report_n_parts(r), out);
    }
    scfm_report_free(r);
    free(runs);
    return rc;
}
