/* Fine-tuning labels and splits: cell labels from an obs column, gene labels from a table,
 * split columns, training subsets. See ft_internal.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_internal.h"
#include "scfm/rng.h"

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
/* Fisher-Yates shuffle of idx[n] with r. */
static void shuffle(size_t *idx, size_t n, scfm_rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)scfm_rng_below(r, i), t = idx[i - 1];
        idx[i - 1] = idx[k];
        idx[k] = t;
    }
}

int ft_fold_assign(const int32_t *strat, size_t n, size_t C, size_t K, uint64_t seed, int32_t *fold) {
    if (K < 2) return scfm_error(SCFM_EINVAL, "finetune: folds %zu must be >= 2", K);
    size_t *idx = scfm_calloc(n ? n : 1, sizeof *idx);
    if (!idx) return SCFM_ENOMEM;
    scfm_rng r;
    scfm_rng_seed(&r, scfm_hash3(seed, FT_STREAM_FOLDS, 0));
    size_t next = 0; /* the fold the next class starts on: keeps fold sizes within one */
    for (size_t i = 0; i < n; i++) fold[i] = -1;
    for (size_t c = 0; c < C; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (strat[i] == (int32_t)c) idx[m++] = i;
        shuffle(idx, m, &r);
        for (size_t k = 0; k < m; k++) fold[idx[k]] = (int32_t)((next + k) % K);
        next = (next + m) % K;
    }
    free(idx);
    return SCFM_OK;
}

int ft_split_fold(const int32_t *strat, const int32_t *fold, size_t n, size_t C, size_t k, double val_frac,
                  uint64_t seed, int8_t *split) {
    int32_t *l = scfm_calloc(n ? n : 1, sizeof *l);
    int8_t *s = scfm_calloc(n ? n : 1, 1);
    int rc = l && s ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) l[i] = strat[i] >= 0 && fold[i] != (int32_t)k ? strat[i] : -1;
    if (!rc) rc = scfm_stratified_split(l, n, C, val_frac, 0, scfm_hash3(seed, FT_STREAM_FOLDS, k + 1), s);
    for (size_t i = 0; !rc && i < n; i++)
        split[i] = strat[i] < 0 ? SPLIT_EXCLUDED : fold[i] == (int32_t)k ? SPLIT_TEST : s[i] == 1 ? SPLIT_VAL : SPLIT_TRAIN;
    free(l);
    free(s);
    return rc;
}

/* Groups of a column (distinct values, in order of first appearance) -> group index per cell. */
static int group_ids(const scfm_corpus *c, size_t col, const int32_t *strat, int32_t *gid, size_t *n_groups,
                     size_t **gsize) {
    size_t n = scfm_corpus_n_cells(c);
    ft_strlist g;
    memset(&g, 0, sizeof g);
    int rc = SCFM_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        gid[i] = -1;
        if (strat[i] < 0) continue;
        const char *v = scfm_corpus_obs(c, i, col);
        long k = ft_strlist_find(&g, v ? v : "");
        if (k < 0) {
            rc = ft_strlist_add(&g, v ? v : "");
            k = (long)g.n - 1;
        }
        gid[i] = (int32_t)k;
    }
    *n_groups = g.n;
    *gsize = rc ? NULL : scfm_calloc(g.n ? g.n : 1, sizeof **gsize);
    if (!rc && !*gsize) rc = SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        if (gid[i] >= 0) (*gsize)[gid[i]]++;
    ft_strlist_free(&g);
    return rc;
}

/* Groups in a seeded random order, largest first (ties: the random order). */
typedef struct { size_t size, rank, g; } grp_ord;
static int cmp_grp(const void *a, const void *b) {
    const grp_ord *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static grp_ord *group_order(const size_t *gsize, size_t G, uint64_t seed) {
    grp_ord *o = scfm_calloc(G ? G : 1, sizeof *o);
    size_t *perm = scfm_calloc(G ? G : 1, sizeof *perm);
    if (!o || !perm) { free(o); free(perm); return NULL; }
    scfm_rng r;
    scfm_rng_seed(&r, scfm_hash3(seed, FT_STREAM_FOLDS, 0x47));
    for (size_t g = 0; g < G; g++) perm[g] = g;
    shuffle(perm, G, &r);
    for (size_t k = 0; k < G; k++) o[k] = (grp_ord){gsize[perm[k]], k, perm[k]};
    qsort(o, G, sizeof *o, cmp_grp);
    free(perm);
    return o;
}

int ft_group_split(const scfm_corpus *c, const char *column, const int32_t *strat, double val_frac, double test_frac,
                   size_t K, size_t fold, uint64_t seed, int8_t *split) {
    size_t col = 0, n = scfm_corpus_n_cells(c), G = 0, *gsize = NULL;
    int rc = ft_column_index(c, column, "the group column", &col);
    int32_t *gid = rc ? NULL : scfm_calloc(n ? n : 1, sizeof *gid);
    if (!rc && !gid) rc = SCFM_ENOMEM;
    if (!rc) rc = group_ids(c, col, strat, gid, &G, &gsize);
    grp_ord *o = rc ? NULL : group_order(gsize, G, seed);
    int8_t *gs = rc ? NULL : scfm_calloc(G ? G : 1, 1);
    if (!rc && (!o || !gs)) rc = SCFM_ENOMEM;
    size_t need = K >= 2 ? 3 : (test_frac > 0) + (val_frac > 0) + 1;
    if (!rc && G < need)
        rc = scfm_error(SCFM_EINVAL, "%s: group column '%s' has %zu group%s among the labelled cells; keeping groups "
                        "apart needs at least %zu", scfm_corpus_dir(c), column, G, G == 1 ? "" : "s", need);
    if (!rc) {
        size_t total = 0;
        for (size_t g = 0; g < G; g++) total += gsize[g];
        if (K >= 2) { /* greedy balanced folds: each group (largest first) to the smallest fold */
            size_t *fs = scfm_calloc(K, sizeof *fs);
            int32_t *gf = scfm_calloc(G, sizeof *gf);
            if (!fs || !gf) rc = SCFM_ENOMEM;
            for (size_t k = 0; !rc && k < G; k++) {
                size_t best = 0;
                for (size_t f = 1; f < K; f++)
                    if (fs[f] < fs[best]) best = f;
                gf[o[k].g] = (int32_t)best;
                fs[best] += o[k].size;
            }
            /* validation: groups of the other folds, in the random order, until val_frac of them */
            size_t rest = 0, val = 0;
            for (size_t g = 0; !rc && g < G; g++) rest += gf[g] != (int32_t)fold ? gsize[g] : 0;
            for (size_t g = 0; !rc && g < G; g++) gs[g] = gf[g] == (int32_t)fold ? SPLIT_TEST : SPLIT_TRAIN;
            for (size_t k = 0; !rc && k < G && val_frac > 0; k++) {
                size_t g = o[G - 1 - k].g; /* smallest groups first: validation stays small */
                if (gs[g] != SPLIT_TRAIN || (double)val >= val_frac * (double)rest) continue;
                gs[g] = SPLIT_VAL;
                val += gsize[g];
            }
            free(fs);
            free(gf);
        } else { /* test groups until test_frac of the cells, then validation, the rest train */
            size_t t = 0, v = 0;
            for (size_t k = 0; k < G; k++) {
                size_t g = o[G - 1 - k].g;
                if (test_frac > 0 && (double)t < test_frac * (double)total) { gs[g] = SPLIT_TEST; t += gsize[g]; }
                else if (val_frac > 0 && (double)v < val_frac * (double)total) { gs[g] = SPLIT_VAL; v += gsize[g]; }
                else gs[g] = SPLIT_TRAIN;
            }
            size_t tr = 0;
            for (size_t g = 0; g < G; g++) tr += gs[g] == SPLIT_TRAIN;
            if (!tr) gs[o[0].g] = SPLIT_TRAIN; /* the largest group trains */
        }
    }
    for (size_t i = 0; !rc && i < n; i++) split[i] = gid[i] < 0 ? SPLIT_EXCLUDED : gs[gid[i]];
    if (!rc) scfm_log(SCFM_LOG_INFO, "finetune: %zu groups of '%s' kept apart across the split", G, column);
    free(gid);
    free(gsize);
    free(o);
    free(gs);
    return rc;
}

int ft_filter_classes(const ft_strlist *cls, int32_t *lab, size_t n, double min_fraction, long max_per_class,
                      uint64_t seed, const char *what, size_t *n_dropped) {
    size_t C = cls->n, total = 0;
    *n_dropped = 0;
    size_t *cnt = scfm_calloc(C ? C : 1, sizeof *cnt), *idx = scfm_calloc(n ? n : 1, sizeof *idx);
    if (!cnt || !idx) { free(cnt); free(idx); return SCFM_ENOMEM; }
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= 0) { cnt[lab[i]]++; total++; }
    for (size_t c = 0; c < C && min_fraction > 0; c++)
        if (cnt[c] > 0 && (double)cnt[c] < min_fraction * (double)total) {
            scfm_log(SCFM_LOG_INFO, "finetune: class '%s' (%zu of %zu %s, %.3g%%) is below --min-class-fraction %g and is "
                     "left out", cls->s[c], cnt[c], total, what, 100.0 * (double)cnt[c] / (double)total, min_fraction);
            for (size_t i = 0; i < n; i++)
                if (lab[i] == (int32_t)c) { lab[i] = -1; (*n_dropped)++; }
            cnt[c] = 0;
        }
    scfm_rng r;
    scfm_rng_seed(&r, scfm_hash3(seed, FT_STREAM_CAP, 0));
    for (size_t c = 0; c < C && max_per_class > 0; c++) {
        if (cnt[c] <= (size_t)max_per_class) continue;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (lab[i] == (int32_t)c) idx[m++] = i;
        shuffle(idx, m, &r);
        for (size_t k = (size_t)max_per_class; k < m; k++) { lab[idx[k]] = -1; (*n_dropped)++; }
        scfm_log(SCFM_LOG_INFO, "finetune: class '%s': %zu of its %zu %s kept (--max-cells-per-class)", cls->s[c],
                 (size_t)max_per_class, m, what);
    }
    free(cnt);
    free(idx);
    return SCFM_OK;
}
