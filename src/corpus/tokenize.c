/* Rank-value tokenizer (docs/computation.md sections 1-3): one cell on arrays, and files -> corpus. */
#include "scfm/corpus.h"
#include "scfm/io.h"
#include "corpus/tok_inputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define TARGET_SUM 10000.0

/* ======================================================================================
 * One cell
 * ====================================================================================== */
/* Sort item: key = ~(bit pattern of x), so ascending key = descending x (x > 0, finite). */
typedef struct { uint64_t key; int32_t id; } tok_item;

static inline uint64_t key_of(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return ~u; }
static inline double x_of(uint64_t key) { uint64_t u = ~key; double x; memcpy(&x, &u, sizeof x); return x; }

struct scfm_tok_work {
    size_t vocab_size;
    double *acc;        /* [vocab_size] summed counts of the current cell */
    uint32_t *stamp;    /* [vocab_size] acc[v] is valid iff stamp[v] == cur */
    uint32_t cur;
    int32_t *touched;   /* [vocab_size] ids seen in the current cell */
    tok_item *items;    /* [vocab_size] the cell's items, unsorted */
    tok_item *sorted;   /* [vocab_size] the same, sorted */
    uint64_t *ka, *kb;  /* [vocab_size] radix sort keys and scratch */
};

scfm_tok_work *scfm_tok_work_new(size_t vocab_size) {
    scfm_tok_work *w = scfm_calloc(1, sizeof *w);
    if (!w) return NULL;
    size_t n = vocab_size ? vocab_size : 1;
    w->vocab_size = vocab_size;
    w->acc = scfm_calloc(n, sizeof *w->acc);
    w->stamp = scfm_calloc(n, sizeof *w->stamp);
    w->touched = scfm_calloc(n, sizeof *w->touched);
    w->items = scfm_calloc(n, sizeof *w->items);
    w->sorted = scfm_calloc(n, sizeof *w->sorted);
    w->ka = scfm_calloc(n, sizeof *w->ka);
    w->kb = scfm_calloc(n, sizeof *w->kb);
    if (!w->acc || !w->stamp || !w->touched || !w->items || !w->sorted || !w->ka || !w->kb) {
        scfm_tok_work_free(w);
        return NULL;
    }
    return w;
}

void scfm_tok_work_free(scfm_tok_work *w) {
    if (!w) return;
    free(w->acc); free(w->stamp); free(w->touched); free(w->items); free(w->sorted); free(w->ka); free(w->kb);
    free(w);
}

/* a before b: larger x first, ties by smaller id. All keys are distinct (ids are unique). */
static inline int item_before(const tok_item *a, const tok_item *b) {
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static void insertion_sort(tok_item *a, size_t n) {
    for (size_t i = 1; i < n; i++) {
        tok_item t = a[i];
        size_t j = i;
        while (j > 0 && item_before(&t, &a[j - 1])) { a[j] = a[j - 1]; j--; }
        a[j] = t;
    }
}

static int cmp_items(const void *a, const void *b) {
    const tok_item *x = a, *y = b;
    return item_before(x, y) ? -1 : item_before(y, x) ? 1 : 0;
}

/* Sorts a[0..n) into out[0..n) by item_before (key ascending, ties by id ascending). The key's
 * upper 32 bits (sign, exponent and 20 mantissa bits of x), less the cell's smallest, are cut to
 * their 16 leading bits (the range's top 16), and 8-byte composites of those bits above the
 * item's index are LSD radix sorted in at most two 8-bit passes (a pass is skipped when every
 * item has the same digit). The items are then gathered in that order and each run with equal
 * cut bits (short: ~1000 items over 65536 buckets) is sorted by the full order. The order is
 * total, so the result is the unique sorted sequence. ka, kb: scratch of n each. */
static void sort_items(const tok_item *a, tok_item *out, uint64_t *ka, uint64_t *kb, size_t n) {
    if (n < 48) {
        memcpy(out, a, n * sizeof *a);
        insertion_sort(out, n);
        return;
    }
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t h = (uint32_t)(a[i].key >> 32);
        lo = h < lo ? h : lo;
        hi = h > hi ? h : hi;
    }
    int shift = 0;
    while (shift < 16 && (uint64_t)(hi - lo) >> shift >= 65536) shift++;
    uint32_t hist[2][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        const uint64_t k = (uint64_t)(((uint32_t)(a[i].key >> 32) - lo) >> shift) << 32 | i;
        ka[i] = k;
        hist[0][(k >> 32) & 255]++;
        hist[1][(k >> 40) & 255]++;
    }
    uint64_t *src = ka, *dst = kb;
    for (int b = 0; b < 2; b++) {
        uint32_t *h = hist[b];
        const int sh = 32 + 8 * b;
        if (h[(src[0] >> sh) & 255] == n) continue;
        uint32_t sum = 0;
        for (int d = 0; d < 256; d++) { uint32_t c = h[d]; h[d] = sum; sum += c; }
        for (size_t i = 0; i < n; i++) dst[h[(src[i] >> sh) & 255]++] = src[i];
        uint64_t *t = src; src = dst; dst = t;
    }
    for (size_t i = 0; i < n; i++) out[i] = a[(uint32_t)src[i]];
    for (size_t i = 0; i + 1 < n;) {
        const uint64_t top = src[i] >> 32;
        size_t j = i + 1;
        while (j < n && src[j] >> 32 == top) j++;
        if (j - i > 32) qsort(out + i, j - i, sizeof *out, cmp_items);
        else if (j - i > 1) insertion_sort(out + i, j - i);
        i = j;
    }
}

/* Sums the cell's counts per vocabulary id into w; returns the number of ids touched or
 * (size_t)-1 on a gene index out of range. */
static size_t gather_cell(scfm_tok_work *w, const int32_t *gene_vocab, size_t n_genes, const uint32_t *idx,
                          const double *cnt, size_t nnz, double *vocab_sum) {
    if (++w->cur == 0) { memset(w->stamp, 0, w->vocab_size * sizeof *w->stamp); w->cur = 1; }
    size_t m = 0;
    double sum = 0.0;
    for (size_t k = 0; k < nnz; k++) {
        if (idx[k] >= n_genes) return (size_t)-1;
        int32_t v = gene_vocab[idx[k]];
        if (v < 0 || (size_t)v >= w->vocab_size) continue;
        if (w->stamp[v] != w->cur) { w->stamp[v] = w->cur; w->acc[v] = 0.0; w->touched[m++] = v; }
        w->acc[v] += cnt[k];
        sum += cnt[k];
    }
    *vocab_sum = sum;
    return m;
}

static void emit_cell(const scfm_tokenizer_params *p, const scfm_tok_work *w, size_t m, int32_t *tokens,
                      float *values, size_t *len) {
    const tok_item *it = w->sorted;
    size_t o = 0;
    if (p->cls_id >= 0) { tokens[o] = p->cls_id; if (values) values[o] = 0.0f; o++; }
    for (size_t k = 0; k < m; k++, o++) {
        tokens[o] = it[k].id;
        if (!values) continue;
        double v = x_of(it[k].key); /* x, or counts / median for RAW_MEDIAN (the rank key) */
        values[o] = (float)log2(1.0 + v);
    }
    if (p->eos_id >= 0) { tokens[o] = p->eos_id; if (values) values[o] = 0.0f; o++; }
    *len = o;
}

int scfm_tokenize_cell(const scfm_tokenizer_params *p, const int32_t *gene_vocab, size_t n_genes, const uint32_t *idx,
                       const double *cnt, size_t nnz, double n_counts, scfm_tok_work *w, int32_t *tokens,
                       float *values, size_t *len, double *vocab_sum) {
    double vsum = 0.0;
    *len = 0;
    if (w->vocab_size != p->vocab_size) return scfm_error(SCFM_EINVAL, "tokenizer workspace size mismatch");
    size_t m = gather_cell(w, gene_vocab, n_genes, idx, cnt, nnz, &vsum);
    if (m == (size_t)-1) return scfm_error(SCFM_EINVAL, "gene index out of range (%zu genes)", n_genes);
    if (vocab_sum) *vocab_sum = vsum;
    double n = p->norm == SCFM_NORM_VOCAB_SUM ? vsum : n_counts;
    size_t q = 0;
    for (size_t k = 0; k < m; k++) {
        int32_t v = w->touched[k];
        double c = w->acc[v], med = p->medians[v];
        if (!(c > 0.0) || !(med > 0.0) || !isfinite(med)) continue;
        /* GeneCompass values rank by the value's own ratio (counts / median): the same order as x
         * within a cell, but without x's rounding, so the top genes are exactly the top by value */
        const double x = p->values == SCFM_VALUES_RAW_MEDIAN ? c / med : c / n * TARGET_SUM / med;
        w->items[q++] = (tok_item){key_of(x), v};
    }
    if (q == 0) return SCFM_OK;
    if (!(n > 0.0) || !isfinite(n))
        return scfm_error(SCFM_EINVAL, "cell total (n_counts) is %g although genes are expressed", n);
    size_t keep = q < p->max_genes ? q : p->max_genes;
    sort_items(w->items, w->sorted, w->ka, w->kb, q);
    emit_cell(p, w, keep, tokens, p->values != SCFM_VALUES_NONE ? values : NULL, len);
    return SCFM_OK;
}

/* ======================================================================================
 * Files -> corpus
 * ====================================================================================== */
typedef struct {
    const scfm_tokenize_opts *o;
    scfm_vocab *vocab;
    double *medians;
    scfm_gene_map *names;
    scfm_orthologs *orth;
    scfm_joint_vocab joint;    /* joint.joint: a joint (GeneCompass) vocabulary */
    int species;               /* 0 human, 1 mouse, -1 not given */
    int median_one;            /* genes without a median get median 1 */
    scfm_corpus_writer *w;
    scfm_tokenizer_params tp;
    size_t max_len, n_threads, chunk_cells;
    scfm_tok_work **work;      /* [n_threads] */
    int32_t *tok_buf;          /* [chunk_cells * max_len] */
    float *val_buf;            /* [chunk_cells * max_len] when values */
    size_t *lens;              /* [chunk_cells] */
    double *vsum, *total;      /* [chunk_cells] counts reaching the vocab / all counts */
    int *status;               /* [chunk_cells] 0 ok, 1 filtered, <0 error */
    size_t *bad_nnz;           /* [chunk_cells] non-zero index of a non-integer count */
    scfm_tokenize_stats st;
    double t0, last_progress;
    /* several inputs: obs column "source" (the input file) and cell IDs unique across them */
    int multi, add_source;
    const char **obs_names;    /* the corpus's obs columns: --obs, then "source" */
    size_t n_obs_names;
    const char **obs_row;      /* [n_obs_names] one cell's values */
    scfm_tok_ids ids;
} tok_run;

/* Per-file state. */
typedef struct {
    const char *path;
    scfm_reader *r;
    int32_t *gene_vocab;
    const char *const *genes;
    size_t n_genes, n_mapped;
    long col_n_counts, col_filter;  /* index in the selected obs list or -1 */
    size_t n_user_obs;
    size_t cells_in, cells_kept;
    double sum_vocab, sum_total;
    size_t index;                   /* the input's position (after folders are expanded) */
} tok_file;

static uint64_t fnv1a_file(const char *path, int *ok) {
    char *data = NULL;
    size_t len = 0;
    uint64_t h = 14695981039346656037ULL;
    *ok = scfm_read_file(path, &data, &len) == SCFM_OK;
    for (size_t i = 0; *ok && i < len; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
    free(data);
    return h;
}

static int run_check_opts(const scfm_tokenize_opts *o, int *v2) {
    const char *mode = o->mode ? o->mode : "v1";
    if (strcmp(mode, "v1") && strcmp(mode, "v2"))
        return scfm_error(SCFM_EINVAL, "--mode must be v1 or v2, not '%s'", mode);
    *v2 = !strcmp(mode, "v2");
    if (!o->vocab_path) return scfm_error(SCFM_EINVAL, "a vocabulary (--vocab) is required");
    if (!o->medians_path) return scfm_error(SCFM_EINVAL, "gene medians (--medians) are required");
    if (o->to_species && strcmp(o->to_species, "human") && strcmp(o->to_species, "mouse"))
        return scfm_error(SCFM_EINVAL, "--to-species must be human or mouse, not '%s'", o->to_species);
    if (o->to_species && !o->orthologs_path) return scfm_error(SCFM_EINVAL, "--to-species needs --orthologs FILE");
    if (!o->to_species && o->orthologs_path) return scfm_error(SCFM_EINVAL, "--orthologs needs --to-species");
    if (o->species && strcmp(o->species, "human") && strcmp(o->species, "mouse"))
        return scfm_error(SCFM_EINVAL, "--species must be human or mouse, not '%s'", o->species);
    if (o->missing_median < SCFM_MISSING_MEDIAN_AUTO || o->missing_median > SCFM_MISSING_MEDIAN_ONE)
        return scfm_error(SCFM_EINVAL, "missing-median rule %d is unknown", (int)o->missing_median);
    if (o->max_len && (o->max_len > (1u << 20) || (*v2 && o->max_len < 3)))
        return scfm_error(SCFM_EINVAL, "--max-len %zu is out of range", o->max_len);
    return SCFM_OK;
}

/* Species rules (docs/computation.md section 3): a joint vocabulary needs --species, and its mouse cells write
 * homologous genes with the human token normalized by the mouse gene's median; a one-species
 * vocabulary must hold the genes of the cells' species (or of --to-species). Genes without a
 * median get median 1 under the GeneCompass rule. Adjusts t->medians. */
static int run_species(tok_run *t) {
    const scfm_tokenize_opts *o = t->o;
    size_t vs = scfm_vocab_size(t->vocab);
    t->species = !o->species ? -1 : !strcmp(o->species, "human") ? 0 : 1;
    t->median_one = o->missing_median == SCFM_MISSING_MEDIAN_ONE ||
                    (o->missing_median == SCFM_MISSING_MEDIAN_AUTO && o->values != SCFM_VALUES_NONE);
    for (size_t v = 0; t->median_one && v < vs; v++) {
        const char *tok = scfm_vocab_token(t->vocab, v);
        if (tok[0] != '<' && !(t->medians[v] > 0.0 && isfinite(t->medians[v]))) t->medians[v] = 1.0;
    }
    int rc = scfm_joint_vocab_load(o->vocab_path, t->vocab, &t->joint);
    if (rc) return rc;
    if (!t->joint.joint) {
        const char *need = o->to_species ? o->to_species : o->species;
        unsigned mask = scfm_vocab_species_mask(t->vocab);
        /* mask 0: a vocabulary without Ensembl IDs (keyed by symbols, vocab build --symbols)
         * says nothing about its species */
        if (need && mask && !(mask & (1u << (strcmp(need, "human") ? 1 : 0))))
            return scfm_error(SCFM_EINVAL, "%s: the vocabulary holds no %s genes, so %s cells cannot be tokenized with it%s",
                              o->vocab_path, need, need, o->to_species ? "" : ": convert them with --to-species "
                              "and --orthologs, or use a joint vocabulary (scfm vocab build --human ... --mouse ...)");
        return SCFM_OK;
    }
    if (t->species < 0)
        return scfm_error(SCFM_EINVAL, "%s is a joint (human+mouse) vocabulary: say which species the cells are with "
                          "--species human|mouse", o->vocab_path);
    if (o->to_species)
        return scfm_error(SCFM_EINVAL, "%s is a joint vocabulary: it holds both species' genes, so --to-species "
                          "(ortholog conversion) does not apply; homologous genes share tokens through its homolog map",
                          o->vocab_path);
    const int s = t->species;
    double *m = t->medians;
    for (size_t v = 0; v < vs; v++) /* genes of the other species are never emitted for these cells */
        if (v >= t->joint.first[1 - s] && v < t->joint.end[1 - s]) m[v] = NAN;
    if (s == 1)
        for (size_t v = t->joint.first[1]; v < t->joint.end[1]; v++) {
            int32_t h = t->joint.mouse_to_human[v];
            if (h >= 0) { m[h] = m[v]; m[v] = NAN; } /* the human token, with the mouse gene's median */
        }
    scfm_log(SCFM_LOG_INFO, "tokenize: joint vocabulary (%zu human, %zu mouse genes, %zu homologous pairs): %s cells%s",
             t->joint.end[0] - t->joint.first[0], t->joint.end[1] - t->joint.first[1], t->joint.n_homologs, o->species,
             s == 1 ? ", homologous mouse genes written with the human token" : "");
    return SCFM_OK;
}

static int run_load_vocab(tok_run *t, int v2) {
    const scfm_tokenize_opts *o = t->o;
    if (!(t->vocab = scfm_vocab_load(o->vocab_path))) return SCFM_EFORMAT;
    size_t vs = scfm_vocab_size(t->vocab);
    if (vs < 3 || vs > INT32_MAX) return scfm_error(SCFM_EINVAL, "%s: vocabulary size %zu is unusable", o->vocab_path, vs);
    int64_t cls = scfm_vocab_special(t->vocab, "<cls>"), eos = scfm_vocab_special(t->vocab, "<eos>");
    if (v2 && (cls < 0 || eos < 0))
        return scfm_error(SCFM_EINVAL, "%s: V2 mode needs <cls> and <eos> tokens, which this vocabulary lacks "
                                       "(a V1 vocabulary? use --mode v1)", o->vocab_path);
    int rc = scfm_medians_load(o->medians_path, t->vocab, &t->medians);
    if (!rc) rc = run_species(t);
    if (rc) return rc;
    size_t with = 0;
    for (size_t v = 0; v < vs; v++) with += t->medians[v] > 0.0 && isfinite(t->medians[v]);
    if (with == 0) return scfm_error(SCFM_EINVAL, "%s: no vocabulary gene has a median", o->medians_path);
    scfm_log(SCFM_LOG_INFO, "tokenize: vocabulary %s: %zu tokens (%016llx), %zu with a median", o->vocab_path, vs,
             (unsigned long long)scfm_vocab_hash(t->vocab), with);
    t->max_len = o->max_len ? o->max_len : (v2 ? 4096 : 2048);
    t->tp = (scfm_tokenizer_params){vs, t->medians, v2 ? t->max_len - 2 : t->max_len, v2 ? (int32_t)cls : -1,
                                    v2 ? (int32_t)eos : -1, o->norm, o->values};
    return SCFM_OK;
}

static int run_load_maps(tok_run *t) {
    const scfm_tokenize_opts *o = t->o;
    if (o->n_gene_name_paths) {
        if (!(t->names = scfm_gene_map_new())) return SCFM_ENOMEM;
        for (size_t i = 0; i < o->n_gene_name_paths; i++) {
            int rc = scfm_gene_map_add_file(t->names, o->gene_name_paths[i]);
            if (rc) return rc;
        }
    }
    if (o->to_species) {
        const char *from = o->from_species ? o->from_species : strcmp(o->to_species, "human") ? "human" : "mouse";
        scfm_ortholog_opts oo = {o->all_orthologs ? 0 : 1, o->ortholog_min_support, 0};
        if (!(t->orth = scfm_orthologs_load(o->orthologs_path, from, o->to_species, &oo))) return SCFM_EFORMAT;
        scfm_log(SCFM_LOG_INFO, "tokenize: orthologs %s -> %s: %zu pairs (%s)", from, o->to_species,
                 scfm_orthologs_size(t->orth), scfm_orthologs_rule(t->orth));
    }
    return SCFM_OK;
}

static int run_alloc(tok_run *t) {
    const scfm_tokenize_opts *o = t->o;
    t->chunk_cells = o->chunk_cells ? o->chunk_cells : 1024;
    t->n_threads = 1;
#ifdef _OPENMP
    t->n_threads = o->threads > 0 ? (size_t)o->threads : (size_t)omp_get_max_threads();
#endif
    if (t->n_threads < 1) t->n_threads = 1;
    size_t cells_tok;
    if (t->chunk_cells > ((size_t)1 << 24) || scfm_mul_size(t->chunk_cells, t->max_len, &cells_tok))
        return scfm_error(SCFM_EINVAL, "--chunk %zu is too large", t->chunk_cells);
    t->work = scfm_calloc(t->n_threads, sizeof *t->work);
    t->tok_buf = scfm_calloc(cells_tok, sizeof *t->tok_buf);
    t->val_buf = o->values ? scfm_calloc(cells_tok, sizeof *t->val_buf) : NULL;
    t->lens = scfm_calloc(t->chunk_cells, sizeof *t->lens);
    t->vsum = scfm_calloc(t->chunk_cells, sizeof *t->vsum);
    t->total = scfm_calloc(t->chunk_cells, sizeof *t->total);
    t->status = scfm_calloc(t->chunk_cells, sizeof *t->status);
    t->bad_nnz = scfm_calloc(t->chunk_cells, sizeof *t->bad_nnz);
    if (!t->work || !t->tok_buf || (o->values && !t->val_buf) || !t->lens || !t->vsum || !t->total || !t->status ||
        !t->bad_nnz)
        return SCFM_ENOMEM;
    for (size_t i = 0; i < t->n_threads; i++)
        if (!(t->work[i] = scfm_tok_work_new(scfm_vocab_size(t->vocab)))) return SCFM_ENOMEM;
    return SCFM_OK;
}

static void run_free(tok_run *t) {
    for (size_t i = 0; t->work && i < t->n_threads; i++) scfm_tok_work_free(t->work[i]);
    free(t->work);
    free(t->tok_buf); free(t->val_buf); free(t->lens); free(t->vsum); free(t->total); free(t->status);
    free(t->bad_nnz);
    free(t->medians);
    scfm_joint_vocab_free(&t->joint);
    scfm_vocab_free(t->vocab);
    if (t->names) scfm_gene_map_free(t->names);
    if (t->orth) scfm_orthologs_free(t->orth);
    free(t->obs_names);
    free(t->obs_row);
    scfm_tok_ids_free(&t->ids);
}

/* ---- settings recorded in corpus.json ----------------------------------------------------- */
static int run_settings(tok_run *t) {
    const scfm_tokenize_opts *o = t->o;
    scfm_corpus_writer *w = t->w;
    int ok = 0;
    uint64_t mh = fnv1a_file(o->medians_path, &ok);
    char buf[256];
    int rc = scfm_corpus_writer_setting_str(w, "vocab_file", o->vocab_path);
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "median_file", o->medians_path);
    snprintf(buf, sizeof buf, "\"%016llx\"", (unsigned long long)mh);
    if (!rc) rc = scfm_corpus_writer_setting(w, "median_file_fnv1a64", ok ? buf : "null");
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "norm", o->norm == SCFM_NORM_VOCAB_SUM ? "vocab-sum" : "n_counts");
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "n_counts_source", o->ignore_file_n_counts ?
                 "sum over all genes of the file" : "file obs n_counts if present, else sum over all genes of the file");
    if (!rc) rc = scfm_corpus_writer_setting(w, "target_sum", "10000");
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "rank", o->values == SCFM_VALUES_RAW_MEDIAN ?
                 "counts / median (the value), non-zero, descending, ties by ascending token id" :
                 "x = counts / n * 10000 / median, non-zero, descending, ties by ascending token id");
    snprintf(buf, sizeof buf, "%zu", t->tp.max_genes);
    if (!rc) rc = scfm_corpus_writer_setting(w, "max_genes", buf);
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "filter_pass", "cells with obs filter_pass present and != 1 dropped");
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "values", o->values == SCFM_VALUES_NONE ? "none" :
                 o->values == SCFM_VALUES_RAW_MEDIAN ? "log2(1 + counts / median)" :
                 "log2(1 + counts / n * 10000 / median)");
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "orthologs", t->orth ? scfm_orthologs_rule(t->orth) : "none");
    if (!rc && t->orth) rc = scfm_corpus_writer_setting_str(w, "ortholog_file", o->orthologs_path);
    if (!rc && o->to_species) rc = scfm_corpus_writer_setting_str(w, "to_species", o->to_species);
    if (!rc) rc = scfm_corpus_writer_setting(w, "allow_non_integer", o->allow_non_integer ? "true" : "false");
    if (!rc) rc = scfm_corpus_writer_setting(w, "values_per_cell_step", o->values == SCFM_VALUES_NORMALIZED ? "true" : "false");
    if (!rc) rc = scfm_corpus_writer_setting_str(w, "missing_median", t->median_one ? "median 1 (GeneCompass)" :
                                                 "gene dropped (Geneformer)");
    if (!rc) rc = scfm_corpus_writer_setting(w, "joint_vocab", t->joint.joint ? "true" : "false");
    if (!rc && t->joint.joint) {
        snprintf(buf, sizeof buf, "\"%016llx\"", (unsigned long long)t->joint.homologs_hash);
        rc = scfm_corpus_writer_setting(w, "homologs_fnv1a64", buf);
        if (!rc) rc = scfm_corpus_writer_setting_str(w, "homolog_rule", t->species == 1 ?
                      "mouse genes with a homologous pair take the human token id, normalized by their own median" :
                      "human cells: every gene its own token");
    }
    for (size_t i = 0; !rc && i < o->n_gene_name_paths; i++) {
        snprintf(buf, sizeof buf, "gene_names_%zu", i);
        rc = scfm_corpus_writer_setting_str(w, buf, o->gene_name_paths[i]);
    }
    return rc;
}

/* ---- one file --------------------------------------------------------------------------- */
static int file_resolve(tok_run *t, tok_file *f) {
    f->n_genes = scfm_reader_n_genes(f->r);
    f->genes = scfm_reader_genes(f->r);
    /* a joint vocabulary keyed by symbols holds "human:INS" / "mouse:INS1": qualify the cells' symbols */
    const char *pre = !t->joint.joint || !t->joint.symbols ? NULL
                      : t->species ? SCFM_SYMBOL_PREFIX_MOUSE : SCFM_SYMBOL_PREFIX_HUMAN;
    scfm_resolve_opts ro = {t->names, t->orth, pre};
    scfm_gene_resolution res;
    memset(&res, 0, sizeof res);
    int rc = scfm_genes_resolve(f->genes, f->n_genes, t->vocab, &ro, &res);
    if (rc) return scfm_error_prefix(rc, "%s", f->path);
    f->gene_vocab = res.vocab_id;
    res.vocab_id = NULL;
    size_t no_median = 0, other_species = 0, shared = 0;
    for (size_t g = 0; g < f->n_genes; g++) {
        int32_t v = f->gene_vocab[g];
        if (v >= 0 && t->joint.joint) {
            const int s = t->species;
            if ((size_t)v < t->joint.first[s] || (size_t)v >= t->joint.end[s]) { f->gene_vocab[g] = -1; other_species++; continue; }
            if (s == 1 && t->joint.mouse_to_human[v] >= 0) { v = f->gene_vocab[g] = t->joint.mouse_to_human[v]; shared++; }
        }
        if (v >= 0 && !(t->medians[v] > 0.0 && isfinite(t->medians[v]))) { f->gene_vocab[g] = -1; no_median++; }
        f->n_mapped += f->gene_vocab[g] >= 0;
    }
    if (other_species)
        scfm_log(SCFM_LOG_WARN, "%s: %zu genes are %s genes of the joint vocabulary and were dropped (--species %s)",
                 f->path, other_species, t->species ? "human" : "mouse", t->o->species);
    if (shared) scfm_log(SCFM_LOG_INFO, "tokenize: %s: %zu mouse genes take their human homolog's token", f->path, shared);
    scfm_log(SCFM_LOG_INFO, "tokenize: %s (%s): %zu cells, %zu genes in file, %zu reach the vocabulary (%.1f%%) "
             "[dropped: %zu not an ID/unknown symbol, %zu without ortholog, %zu not in vocabulary, %zu without median]",
             f->path, scfm_reader_format(f->r), scfm_reader_n_cells(f->r), f->n_genes, f->n_mapped,
             f->n_genes ? 100.0 * (double)f->n_mapped / (double)f->n_genes : 0.0, res.n_not_id, res.n_no_ortholog,
             res.n_not_in_vocab, no_median);
    scfm_gene_resolution_free(&res);
    return SCFM_OK;
}

/* Index of `name` among the first n selected names, or -1. */
static long find_name(const char **names, size_t n, const char *name) {
    for (size_t k = 0; k < n; k++)
        if (!strcmp(names[k], name)) return (long)k;
    return -1;
}

/* Selects the user's obs columns plus n_counts / filter_pass when the file has them. */
static int file_select_obs(tok_run *t, tok_file *f) {
    const scfm_tokenize_opts *o = t->o;
    const char **names = scfm_calloc(o->n_obs + 2, sizeof *names);
    size_t n = 0;
    if (!names) return SCFM_ENOMEM;
    for (size_t k = 0; k < o->n_obs; k++) names[n++] = o->obs[k];
    f->n_user_obs = n;
    f->col_n_counts = f->col_filter = -1;
    for (size_t a = 0; a < scfm_reader_n_obs_available(f->r); a++) {
        const char *nm = scfm_reader_obs_available(f->r, a);
        long *col = !strcmp(nm, "filter_pass") ? &f->col_filter
                    : !strcmp(nm, "n_counts") && !o->ignore_file_n_counts && o->norm == SCFM_NORM_N_COUNTS ? &f->col_n_counts
                    : NULL;
        if (!col || *col >= 0) continue;
        *col = find_name(names, n, nm);
        if (*col < 0) { *col = (long)n; names[n++] = nm; }
    }
    int rc = scfm_reader_select_obs(f->r, names, n);
    free(names);
    if (!rc && f->col_n_counts >= 0) scfm_log(SCFM_LOG_INFO, "tokenize: %s: using the file's obs n_counts", f->path);
    if (!rc && f->col_filter >= 0) scfm_log(SCFM_LOG_INFO, "tokenize: %s: keeping cells with filter_pass == 1", f->path);
    return rc;
}

static int filter_passes(const char *s) {
    double v;
    if (!strcmp(s, "True") || !strcmp(s, "true") || !strcmp(s, "TRUE")) return 1;
    return scfm_parse_double(s, &v) == SCFM_OK && v == 1.0;
}

static const char *const *chunk_obs(const scfm_cells_chunk *ch, size_t i) {
    return ch->obs && ch->n_obs ? (const char *const *)ch->obs + i * ch->n_obs : NULL;
}

/* Identifier of global cell `cell` (its index as text if the reader has none). */
static const char *cell_name(const tok_file *f, size_t cell, char *buf, size_t cap) {
    const char *const *ids = scfm_reader_cell_ids(f->r);
    if (ids && ids[cell]) return ids[cell];
    snprintf(buf, cap, "%zu", cell);
    return buf;
}

/* Tokenizes cell i of the chunk into its slot; sets t->status[i]. */
static void chunk_cell(tok_run *t, const tok_file *f, const scfm_cells_chunk *ch, size_t i, scfm_tok_work *w) {
    const size_t b = ch->indptr[i], e = ch->indptr[i + 1];
    const char *const *obs = chunk_obs(ch, i);
    double total = 0.0, n_counts;
    t->lens[i] = 0;
    t->vsum[i] = 0.0;
    t->total[i] = 0.0;
    if (f->col_filter >= 0 && !filter_passes(obs[f->col_filter])) { t->status[i] = 1; return; }
    const int check_integer = !t->o->allow_non_integer;
    for (size_t k = b; k < e; k++) {
        const double v = ch->data[k]; /* finite and > 0 (reader contract) */
        if (check_integer && v < 4503599627370496.0 && (double)(int64_t)v != v) { /* from 2^52 on all are integers */
            t->bad_nnz[i] = k;
            t->status[i] = -2;
            return;
        }
        total += v;
    }
    t->total[i] = total;
    n_counts = total;
    if (f->col_n_counts >= 0 && scfm_parse_double(obs[f->col_n_counts], &n_counts) != SCFM_OK) {
        t->status[i] = -3;
        return;
    }
    int rc = scfm_tokenize_cell(&t->tp, f->gene_vocab, f->n_genes, ch->indices + b, ch->data + b, e - b, n_counts, w,
                                t->tok_buf + i * t->max_len, t->val_buf ? t->val_buf + i * t->max_len : NULL,
                                &t->lens[i], &t->vsum[i]);
    t->status[i] = rc ? -4 : 0;
}

static int chunk_error(const tok_run *t, const tok_file *f, const scfm_cells_chunk *ch, size_t i) {
    size_t cell = ch->first_cell + i;
    char buf[32];
    const char *id = cell_name(f, cell, buf, sizeof buf);
    const char *const *obs = chunk_obs(ch, i);
    if (t->status[i] == -2) {
        size_t k = t->bad_nnz[i];
        return scfm_error(SCFM_EDATA, "%s: cell %s (#%zu), gene %s: non-integer count %.17g (raw counts expected; "
                          "use --matrix to pick raw counts, or --allow-non-integer)", f->path, id, cell,
                          f->genes[ch->indices[k]], ch->data[k]);
    }
    if (t->status[i] == -3)
        return scfm_error(SCFM_EDATA, "%s: cell %s (#%zu): obs n_counts '%s' is not a number", f->path, id, cell,
                          obs[f->col_n_counts]);
    return scfm_error(SCFM_EDATA, "%s: cell %s (#%zu): cannot normalize: total count (n_counts%s) is not positive", f->path,
                      id, cell, t->o->norm == SCFM_NORM_VOCAB_SUM ? ", vocab-sum" : "");
}

static int chunk_process(tok_run *t, tok_file *f, const scfm_cells_chunk *ch) {
    long n = (long)ch->n_cells;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 8) num_threads((int)t->n_threads)
#endif
    for (long i = 0; i < n; i++) {
        size_t tid = 0;
#ifdef _OPENMP
        tid = (size_t)omp_get_thread_num();
#endif
        chunk_cell(t, f, ch, (size_t)i, t->work[tid]);
    }
    for (size_t i = 0; i < ch->n_cells; i++) {
        if (t->status[i] < 0) return chunk_error(t, f, ch, i);
        f->sum_total += t->total[i];
        f->sum_vocab += t->vsum[i];
        if (t->status[i] == 1) { t->st.n_filtered++; continue; }
        if (t->lens[i] == 0) { t->st.n_empty++; continue; }
        char buf[32];
        const char *const *obs = chunk_obs(ch, i);
        const char *id = cell_name(f, ch->first_cell + i, buf, sizeof buf);
        if (t->multi && !(id = scfm_tok_ids_unique(&t->ids, id, f->index))) return SCFM_ENOMEM;
        if (t->add_source) { /* the user's columns, then the input file */
            for (size_t k = 0; k < f->n_user_obs; k++) t->obs_row[k] = obs ? obs[k] : NULL;
            t->obs_row[f->n_user_obs] = f->path;
            obs = t->obs_row;
        }
        int rc = scfm_corpus_writer_add(t->w, t->tok_buf + i * t->max_len, t->val_buf ? t->val_buf + i * t->max_len : NULL,
                                        t->lens[i], id, f->n_user_obs || t->add_source ? obs : NULL);
        if (rc) return rc;
        f->cells_kept++;
        t->st.n_tokens += t->lens[i];
    }
    f->cells_in += ch->n_cells;
    t->st.n_cells_in += ch->n_cells;
    return SCFM_OK;
}

static void file_report(tok_run *t, const tok_file *f) {
    double share = f->sum_total > 0 ? f->sum_vocab / f->sum_total : 0.0;
    scfm_log(SCFM_LOG_INFO, "tokenize: %s: %zu of %zu cells kept; %.1f%% of counts reach the vocabulary", f->path,
             f->cells_kept, f->cells_in, 100.0 * share);
    if (share < 0.5)
        scfm_log(SCFM_LOG_WARN, "%s: only %.1f%% of counts (%zu of %zu genes) reach the vocabulary %s. "
                 "Check the gene IDs: symbols need --gene-names; cells of another species than the vocabulary need "
                 "--to-species %s --orthologs FILE", f->path, 100.0 * share, f->n_mapped, f->n_genes,
                 t->o->vocab_path, t->o->to_species ? t->o->to_species : "human|mouse");
}

static int run_file(tok_run *t, const char *path, size_t index) {
    const scfm_tokenize_opts *o = t->o;
    tok_file f;
    memset(&f, 0, sizeof f);
    f.path = path;
    f.index = index;
    scfm_reader_opts ro = {path,      o->format, o->matrix, o->gene_column, o->genes_in_rows, t->chunk_cells,
                           o->genome, o->read_memory_mib};
    if (!(f.r = scfm_reader_open(&ro))) return SCFM_EFORMAT;
    int rc = file_resolve(t, &f);
    if (!rc) rc = file_select_obs(t, &f);
    scfm_cells_chunk ch;
    memset(&ch, 0, sizeof ch);
    while (!rc) {
        int got = scfm_reader_next(f.r, &ch);
        if (got <= 0) { rc = got; break; }
        rc = chunk_process(t, &f, &ch);
        double now = scfm_now();
        if (now - t->last_progress > 0.5) {
            t->last_progress = now;
            scfm_log(SCFM_LOG_PROGRESS, "tokenize: %zu cells, %.0f cells/s", t->st.n_cells_in,
                     (double)t->st.n_cells_in / (now - t->t0 + 1e-9));
        }
    }
    if (!rc) {
        scfm_corpus_source s = {path, scfm_reader_format(f.r), f.cells_in, f.cells_kept, f.n_genes, f.n_mapped,
                                f.sum_total > 0 ? f.sum_vocab / f.sum_total : 0.0};
        file_report(t, &f);
        t->st.n_cells_kept += f.cells_kept;
        rc = scfm_corpus_writer_add_source(t->w, &s);
    }
    scfm_cells_chunk_free(&ch);
    scfm_reader_close(f.r);
    free(f.gene_vocab);
    return rc;
}

static int run_open_writer(tok_run *t, const char *out_dir) {
    const scfm_tokenize_opts *o = t->o;
    scfm_corpus_writer_opts wo = {out_dir, o->force, t->vocab, t->tp.cls_id >= 0 ? "v2" : "v1", t->max_len,
                                  o->values != SCFM_VALUES_NONE, o->species ? o->species : o->to_species,
                                  o->command, t->obs_names, t->n_obs_names, o->shard_cells,
                                  t->joint.joint ? t->joint.homologs_path : NULL};
    if (!(t->w = scfm_corpus_writer_open(&wo))) return SCFM_EIO;
    return run_settings(t);
}

/* Several inputs: the obs column "source" (unless --obs asks for a column of that name) and
 * unique cell IDs. */
static int run_inputs(tok_run *t, size_t n_files) {
    const scfm_tokenize_opts *o = t->o;
    t->multi = n_files > 1;
    t->add_source = t->multi;
    for (size_t k = 0; k < o->n_obs; k++)
        if (!strcmp(o->obs[k], "source")) t->add_source = 0;
    if (t->multi && !t->add_source)
        scfm_log(SCFM_LOG_WARN, "tokenize: --obs source is a column of the inputs: the input file of each cell is not "
                 "recorded (it would be the obs column 'source')");
    t->n_obs_names = o->n_obs + (size_t)t->add_source;
    t->obs_names = scfm_calloc(t->n_obs_names + 1, sizeof *t->obs_names);
    t->obs_row = scfm_calloc(t->n_obs_names + 1, sizeof *t->obs_row);
    if (!t->obs_names || !t->obs_row) return SCFM_ENOMEM;
    for (size_t k = 0; k < o->n_obs; k++) t->obs_names[k] = o->obs[k];
    if (t->add_source) t->obs_names[o->n_obs] = "source";
    return SCFM_OK;
}

int scfm_tokenize_files(const char *const *inputs, size_t n_inputs, const scfm_tokenize_opts *o, const char *out_dir,
                        scfm_tokenize_stats *stats) {
    tok_run t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.t0 = t.last_progress = scfm_now();
    int v2 = 0;
    char **files = NULL;
    size_t n_files = 0;
    int rc = n_inputs ? run_check_opts(o, &v2) : scfm_error(SCFM_EINVAL, "no input files");
    if (!rc) rc = scfm_tok_inputs_expand(inputs, n_inputs, &files, &n_files);
    if (!rc) rc = run_inputs(&t, n_files);
    if (!rc) rc = run_load_vocab(&t, v2);
    if (!rc) rc = run_load_maps(&t);
    if (!rc) rc = run_alloc(&t);
    if (!rc) rc = run_open_writer(&t, out_dir);
    for (size_t i = 0; !rc && i < n_files; i++) rc = run_file(&t, files[i], i);
    t.st.n_inputs = n_files;
    t.st.n_renamed = t.ids.n_renamed;
    if (!rc && t.ids.n_renamed)
        scfm_log(SCFM_LOG_WARN, "tokenize: %zu cell IDs already used by an earlier input were made unique with the "
                 "suffix -K (K = the input's position, 0-based; later collisions -K-2, -K-3, ...)", t.ids.n_renamed);
    if (!rc) {
        if (t.st.n_filtered) scfm_log(SCFM_LOG_INFO, "tokenize: %zu cells dropped by filter_pass", t.st.n_filtered);
        if (t.st.n_empty) scfm_log(SCFM_LOG_INFO, "tokenize: %zu cells dropped: no expressed vocabulary gene", t.st.n_empty);
        rc = scfm_corpus_writer_finish(t.w);
    } else if (t.w) {
        scfm_corpus_writer_abort(t.w);
    }
    t.st.seconds = scfm_now() - t.t0;
    if (!rc)
        scfm_log(SCFM_LOG_INFO, "tokenize: wrote %s: %zu cells, %llu tokens in %.2f s (%.0f cells/s)", out_dir,
                 t.st.n_cells_kept, (unsigned long long)t.st.n_tokens, t.st.seconds,
                 (double)t.st.n_cells_in / (t.st.seconds + 1e-9));
    if (stats) *stats = t.st;
    run_free(&t);
    scfm_tok_inputs_free(files, n_files);
    return rc;
}
