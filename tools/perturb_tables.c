/* The tables of scfm perturb and scfm perturb aggregate (docs/perturb.md "Outputs"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "perturb_tables.h"

static const char *nm_get(const char *const *a, size_t slot) { return a && a[slot] ? a[slot] : ""; }

const char *pt_state_value(const char *spec) {
    const char *eq = strchr(spec, '=');
    return eq ? eq + 1 : spec;
}

int pt_finish_file(const char *cmd, FILE *f, const char *tmp, const char *path) {
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return cli_errorf(cmd, "%s: write failed", path);
    }
    return 0;
}

FILE *pt_open_tmp(const char *cmd, const char *path, char *tmp, size_t cap) {
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) cli_errorf(cmd, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

int pt_write_stats(const char *cmd, const char *path, const scfm_perturb_stat *s, size_t n, const pt_names *nm) {
    char tmp[4096];
    FILE *f = pt_open_tmp(cmd, path, tmp, sizeof tmp);
    if (!f) return 1;
    fprintf(f, "gene\ttoken_id\tname\tsymbol\tn_cells\tmean_shift\tsd_shift\tz\tp\tfdr\tsignificant\tmean_cos");
    if (nm->goal) fprintf(f, "\tmean_shift_to_%s\tsd_shift_to_%s", nm->goal, nm->goal);
    for (size_t k = 0; k < nm->n_alt; k++) fprintf(f, "\tmean_shift_to_%s\tsd_shift_to_%s", nm->alt[k], nm->alt[k]);
    fprintf(f, "\n");
    for (size_t i = 0; i < n; i++) {
        size_t t = s[i].slot;
        fprintf(f, "%s\t%d\t%s\t%s\t%zu\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%d\t%.9g", nm_get(nm->id, t), (int)s[i].token,
                nm_get(nm->name, t), nm_get(nm->symbol, t), s[i].n, s[i].mean_shift, s[i].sd_shift, s[i].z, s[i].p,
                s[i].fdr, s[i].fdr < 0.05, s[i].mean_cos);
        if (nm->goal) fprintf(f, "\t%.9g\t%.9g", s[i].mean_shift, s[i].sd_shift);
        for (size_t k = 0; k < nm->n_alt; k++) fprintf(f, "\t%.9g\t%.9g", s[i].mean_alt[k], s[i].sd_alt[k]);
        fprintf(f, "\n");
    }
    return pt_finish_file(cmd, f, tmp, path);
}

int pt_write_mixture(const char *cmd, const char *path, const scfm_perturb_stat *s, size_t n, const pt_names *nm,
                     double reg) {
    double ref = nm->goal ? 0.0 : 1.0; /* no effect: shift 0 toward a goal, cosine 1 without */
    double *x = calloc(n ? n : 1, sizeof *x), *r = calloc(n ? n : 1, sizeof *r);
    if (!x || !r) { free(x); free(r); return cli_errorf(cmd, "out of memory"); }
    for (size_t i = 0; i < n; i++) x[i] = s[i].mean_shift;
    scfm_gmm2 g;
    double mu = 0, var = 0;
    for (size_t i = 0; i < n; i++) mu += x[i] / (double)n;
    for (size_t i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu) / (double)n;
    if (n && reg > var)
        fprintf(stderr, "scfm %s: warning: --mixture-reg %g exceeds the variance of the mean shifts (%.3g): the "
                "components cannot separate; lower it (e.g. --mixture-reg %.1g)\n", cmd, reg, var, var * 1e-3);
    int rc = scfm_gmm2_fit(x, n, reg, 1e-10, 10000, &g, r) ? cli_fail(cmd) : 0;
    if (!rc) g.impact = fabs(g.mean[1] - ref) >= fabs(g.mean[0] - ref);
    char tmp[4096];
    FILE *f = rc ? NULL : pt_open_tmp(cmd, path, tmp, sizeof tmp);
    if (!rc && !f) rc = 1;
    if (f) {
        fprintf(f, "gene\ttoken_id\tname\tsymbol\tn_cells\tmean_shift\timpact_prob\timpact\n");
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            double p = g.impact ? r[i] : 1 - r[i];
            k += p > 0.5;
            fprintf(f, "%s\t%d\t%s\t%s\t%zu\t%.9g\t%.9g\t%d\n", nm_get(nm->id, s[i].slot), (int)s[i].token,
                    nm_get(nm->name, s[i].slot), nm_get(nm->symbol, s[i].slot), s[i].n, s[i].mean_shift, p, p > 0.5);
        }
        rc = pt_finish_file(cmd, f, tmp, path);
        fprintf(stderr, "mixture model: components mean %.4g / %.4g, sd %.4g / %.4g, weight %.3f / %.3f (%zu EM "
                "iterations%s); impact component %d: %zu of %zu genes\n", g.mean[0], g.mean[1], sqrt(g.var[0]),
                sqrt(g.var[1]), g.weight[0], g.weight[1], g.n_iter, g.converged ? "" : ", not converged", g.impact, k, n);
    }
    free(x);
    free(r);
    return rc;
}

/* Shifts are written with 17 significant digits, so that a table read back holds the very
 * doubles of the run (scfm perturb aggregate recomputes the statistics exactly). Columns:
 * gene token_id cell cell_id null shift cos [shift_to_ALT...] name symbol [shift_to_GOAL]
 * (the older columns first, at their old places; a goal run ends with its goal's column). */
int pt_write_shifts(const char *cmd, const char *path, const scfm_perturb_result *r, const scfm_corpus *c,
                    const pt_names *nm) {
    char tmp[4096];
    FILE *f = pt_open_tmp(cmd, path, tmp, sizeof tmp);
    if (!f) return 1;
    fprintf(f, "gene\ttoken_id\tcell\tcell_id\tnull\tshift\tcos");
    for (size_t k = 0; k < nm->n_alt; k++) fprintf(f, "\tshift_to_%s", nm->alt[k]);
    fprintf(f, "\tname\tsymbol");
    if (nm->goal) fprintf(f, "\tshift_to_%s", nm->goal);
    fprintf(f, "\n");
    for (size_t t = 0; t < r->V + 2; t++)
        for (size_t i = 0; i < r->n[t]; i++) {
            const char *cid = scfm_corpus_cell_id(c, r->cell[t][i]);
            double sh = r->shifts[t][i];
            fprintf(f, "%s\t%d\t%zu\t%s\t%d\t%.17g", nm_get(nm->id, t), t < r->V ? (int)t : -1, r->cell[t][i],
                    cid ? cid : "", t == SCFM_PERTURB_SLOT_NULL(r->V), sh);
            for (size_t k = 0; k < r->n_extra; k++) fprintf(f, "\t%.17g", r->extra[t][i * r->n_extra + k]);
            fprintf(f, "\t%s\t%s", nm_get(nm->name, t), nm_get(nm->symbol, t));
            if (nm->goal) fprintf(f, "\t%.17g", sh);
            fprintf(f, "\n");
        }
    return pt_finish_file(cmd, f, tmp, path);
}

/* The key-value lines, then the one-line summary (and the footer on stderr). */
void pt_print_summary(const char *cmd, const scfm_perturb_result *r, const scfm_perturb_stat *st, size_t nstat,
                      const char *out) {
    size_t sig = 0;
    for (size_t i = 0; i < nstat; i++) sig += st[i].fdr < 0.05;
    printf("cells\t%zu\nperturbations\t%zu\nnull_perturbations\t%zu\nreference\t%s\ngenes\t%zu\nsignificant\t%zu\n"
           "output\t%s\n",
           r->n_cells, r->n_perturbations, r->n_null, r->n_null ? "null" : "all", nstat, sig, out);
    cli_done(cmd, "%zu cells, %zu perturbations (+%zu null), %zu genes, %zu significant (FDR < 0.05) -> %s",
             r->n_cells, r->n_perturbations, r->n_null, nstat, sig, out);
}
