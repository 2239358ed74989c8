/* Fine-tuning labels and splits: cell labels from an obs column, gene labels from a table,
 * split columns, training subsets. See ft_internal.h. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_internal.h"

/* ---- labels ----------------------------------------------------------------------------- */

int ft_dropped(const scfm_finetune_job *j, const char *v) {
    for (size_t k = 0; k < j->n_drop_labels; k++)
        if (!strcmp(j->drop_labels[k], v)) return 1;
    return 0;
}

int ft_list_columns(const scfm_corpus *c, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t k = 0; k < scfm_corpus_n_obs(c) && o + 4 < n; k++)
        o += (size_t)snprintf(buf + o, n - o, "%s'%s'", k ? ", " : "", scfm_corpus_obs_name(c, k));
    if (!scfm_corpus_n_obs(c)) snprintf(buf, n, "none; tokenize with --obs COLUMN to carry labels");
    return 0;
}

int ft_column_index(const scfm_corpus *c, const char *name, const char *what, size_t *col) {
    long k = scfm_corpus_obs_index(c, name);
    if (k < 0) {
        char cols[1024];
        ft_list_columns(c, cols, sizeof cols);
        return scfm_error(SCFM_ENOTFOUND, "%s: no obs column '%s' (%s); available columns: %s", scfm_corpus_dir(c), name,
                          what, cols);
    }
    *col = (size_t)k;
    return SCFM_OK;
}

/* Cell task: classes (sorted names) and a class per cell (-1: empty or dropped). */
int ft_cell_labels(const scfm_finetune_job *j, const scfm_corpus *c, ft_strlist *cls, int32_t *lab, size_t *n_excl) {
    size_t col = 0, n = scfm_corpus_n_cells(c);
    int rc = ft_column_index(c, j->label_column, "the label column", &col);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *v = scfm_corpus_obs(c, i, col);
        if (v && v[0] && !ft_dropped(j, v)) rc = ft_strlist_add(cls, v);
    }
    if (rc) return rc;
    qsort(cls->s, cls->n, sizeof *cls->s, ft_cmp_str);
    *n_excl = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = scfm_corpus_obs(c, i, col);
        lab[i] = v && v[0] && !ft_dropped(j, v) ? (int32_t)ft_strlist_find(cls, v) : -1;
        *n_excl += lab[i] < 0;
    }
    return SCFM_OK;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static int64_t lookup_gene(const scfm_vocab *v, char *id) {
    for (char *p = id; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    int64_t t = scfm_vocab_lookup(v, id);
    char *dot = strchr(id, '.');
    if (t < 0 && dot && !strncmp(id, "ENS", 3)) { /* versioned Ensembl ID */
        *dot = 0;
        t = scfm_vocab_lookup(v, id);
    }
    return t;
}

/* Gene task: the table gene_id<TAB>label (optional header; '#' comments) -> classes and
 * a class per vocabulary id (-1: unlabelled). */
int ft_gene_labels(const scfm_finetune_job *j, const scfm_vocab *v, ft_strlist *cls, int32_t *lab) {
    const char *path = j->gene_labels;
    char *data = NULL;
    size_t len = 0, V = scfm_vocab_size(v), n_missing = 0, n_lines = 0, n_used = 0;
    int rc = scfm_read_file(path, &data, &len);
    if (rc) return rc;
    char **lab_of = scfm_calloc(V ? V : 1, sizeof *lab_of); /* label text per token (into data) */
    if (!lab_of) { free(data); return SCFM_ENOMEM; }
    char *save = NULL, *line = strtok_r(data, "\n", &save);
    for (size_t ln = 1; line && !rc; line = strtok_r(NULL, "\n", &save), ln++) {
        char *s = trim(line);
        if (!s[0] || s[0] == '#') continue;
        char *tab = strchr(s, '\t');
        if (!tab) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: expected gene_id<TAB>label", path, ln); break; }
        *tab = 0;
        char *id = trim(s), *val = trim(tab + 1), *tab2 = strchr(val, '\t');
        if (tab2) *tab2 = 0;
        val = trim(val);
        n_lines++;
        int64_t t = lookup_gene(v, id);
        if (t < 0 && n_lines == 1 && (!strcasecmp(id, "GENE_ID") || !strcasecmp(id, "GENE") || !strcasecmp(id, "ENSEMBL_ID") ||
                                      !strcasecmp(id, "ID") || !strcasecmp(id, "GENE_NAME"))) {
            n_lines--; /* header */
            continue;
        }
        if (!val[0] || ft_dropped(j, val)) continue;
        if (t < 0) { n_missing++; continue; }
        if (lab_of[t] && strcmp(lab_of[t], val))
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: gene %s is labelled both '%s' and '%s'", path, ln, id, lab_of[t], val);
        else if (!lab_of[t]) {
            lab_of[t] = val;
            n_used++;
            rc = ft_strlist_add(cls, val);
        }
    }
    if (!rc && n_used == 0)
        rc = scfm_error(SCFM_EINVAL, "%s: none of its %zu genes is in the corpus's vocabulary (expected Ensembl IDs "
                        "such as ENSG00000141510<TAB>label)", path, n_lines);
    if (!rc) {
        qsort(cls->s, cls->n, sizeof *cls->s, ft_cmp_str);
        for (size_t t = 0; t < V; t++) lab[t] = lab_of[t] ? (int32_t)ft_strlist_find(cls, lab_of[t]) : -1;
        if (n_missing)
            scfm_log(SCFM_LOG_WARN, "%s: %zu of %zu labelled genes are not in the vocabulary and are ignored", path,
                     n_missing, n_missing + n_used);
        scfm_log(SCFM_LOG_INFO, "finetune: %zu labelled genes in %zu classes from %s", n_used, cls->n, path);
    }
    free(lab_of);
    free(data);
    return rc;
}

/* ---- split ---------------------------------------------------------------------------- */

int ft_split_from_column(const scfm_finetune_job *j, const scfm_corpus *c, const int32_t *strat, int8_t *split) {
    size_t col = 0, n = scfm_corpus_n_cells(c);
    int rc = ft_column_index(c, j->split_column, "the split column", &col);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *v = scfm_corpus_obs(c, i, col);
        if (strat[i] < 0) split[i] = SPLIT_EXCLUDED;
        else if (!strcasecmp(v, "train")) split[i] = SPLIT_TRAIN;
        else if (!strcasecmp(v, "val") || !strcasecmp(v, "validation")) split[i] = SPLIT_VAL;
        else if (!strcasecmp(v, "test")) split[i] = SPLIT_TEST;
        else
            rc = scfm_error(SCFM_EINVAL, "%s: cell %s has '%s' in split column '%s' (expected train, val, validation "
                            "or test)", scfm_corpus_dir(c), scfm_corpus_cell_id(c, i), v, j->split_column);
    }
    return rc;
}

/* Keeps a stratified share `frac` of the training cells; the others become unused. */
int ft_subsample_train(const int32_t *strat, size_t n, size_t C, double frac, uint64_t seed, int8_t *split) {
    if (frac >= 1) return SCFM_OK;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += split[i] == SPLIT_TRAIN;
    int32_t *l = scfm_calloc(m ? m : 1, sizeof *l);
    int8_t *s = scfm_calloc(m ? m : 1, 1);
    size_t *at = scfm_calloc(m ? m : 1, sizeof *at);
    int rc = l && s && at ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0, k = 0; !rc && i < n; i++)
        if (split[i] == SPLIT_TRAIN) { at[k] = i; l[k++] = strat[i]; }
    if (!rc) rc = scfm_stratified_split(l, m, C, 1.0 - frac, 0, scfm_hash3(seed, FT_STREAM_FRACTION, 0), s);
    for (size_t k = 0; !rc && k < m; k++)
        if (s[k] != 0) split[at[k]] = SPLIT_UNUSED;
    free(l);
    free(s);
    free(at);
    return rc;
}
