/* The tables of scfm perturb (docs/perturb.md "Outputs"): per-gene statistics, the mixture
 * model, and the raw per-cell shifts, which `scfm perturb aggregate` reads back. tools/ only. */
#ifndef SCFM_TOOLS_PERTURB_TABLES_H
#define SCFM_TOOLS_PERTURB_TABLES_H
#include <stdio.h>

#include "scfm/analysis.h"
#include "scfm/corpus.h"

/* What the tables print for each result slot (0 .. V + 1, see scfm_perturb_result): the
 * vocabulary token (ID), the name the user gave, the gene symbol ("" when unknown); and the
 * states the shifts are measured toward (NULL goal: shifts are cosines to the baseline). */
typedef struct {
    size_t V;
    const char **id, **name, **symbol; /* [V + 2] each; NULL entries print as "" */
    const char *goal;                  /* goal state's value, or NULL */
    const char *alt[SCFM_PERTURB_MAX_ALT];
    size_t n_alt;
    struct scfm_gene_map *own_map;     /* a symbol table the names point into (freed by the owner) */
} pt_names;

/* Write a table to path.tmp.PID, then rename it (nothing half-written): open and finish. */
FILE *pt_open_tmp(const char *cmd, const char *path, char *tmp, size_t cap);
int pt_finish_file(const char *cmd, FILE *f, const char *tmp, const char *path);
/* The value of a COL=VALUE state spec (the name its columns get). */
const char *pt_state_value(const char *spec);

int pt_write_stats(const char *cmd, const char *path, const scfm_perturb_stat *s, size_t n, const pt_names *nm);
/* --mixture: two-component Gaussian mixture over the units' mean shifts; ref = no effect. */
int pt_write_mixture(const char *cmd, const char *path, const scfm_perturb_stat *s, size_t n, const pt_names *nm,
                     double reg);
/* The raw shifts (every shift, full precision); cell ids from c. */
int pt_write_shifts(const char *cmd, const char *path, const scfm_perturb_result *r, const scfm_corpus *c,
                    const pt_names *nm);
/* One-line summary of a finished run on stdout (tab-separated key value pairs). */
void pt_print_summary(const char *cmd, const scfm_perturb_result *r, const scfm_perturb_stat *st, size_t nstat,
                      const char *out);

int cmd_perturb_aggregate(int argc, char **argv);

#endif
