/* Pair sources of the prior tables (docs/computation.md section 5): co-expression from count files
 * or value corpora, gene families from a gene -> group table, TF -> target edges from a network table. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifdef SCFM_HAVE_BLAS
#include <cblas.h>
#endif

#include "scfm/corpus.h"
#include "scfm/io.h"
#include "scfm/json.h"
#include "scfm/priors.h"
#include "scfm/rng.h"

void scfm_coexp_opts_init(scfm_coexp_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_cells = 3000;
    o->threshold = 0.8;
    o->min_cells = 30;
    o->log1p = 1;
}

void scfm_table_opts_init(scfm_table_opts *o) {
    memset(o, 0, sizeof *o);
    o->gene_cols = "Ensembl gene ID,ensembl_id,gene_id,Approved symbol,symbol,gene";
    o->group_cols = "Group ID,group_id,Group name,group,family";
    o->tf_cols = "tf,source,regulator";
    o->target_cols = "target,gene";
    o->conf_col = "confidence";
}

int scfm_file_content_hash(const char *path, char out[17]) {
    char *d = NULL;
    size_t n = 0;
    int rc = scfm_read_all(path, &d, &n);
    if (rc) return rc;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)d[i]) * 0x100000001b3ULL;
    free(d);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) out[i] = hex[(h >> (60 - 4 * i)) & 15];
    out[16] = 0;
    return SCFM_OK;
}

/* ---- co-expression ------------------------------------------------------------------- */
typedef struct {
    size_t n_cells, nnz, cap_cells, cap_nnz;
    size_t *ptr;
    uint32_t *gene;
    double *val;
} cell_rows;

static int rows_push(cell_rows *r, const uint32_t *g, const double *v, size_t k) {
    if (r->n_cells + 2 > r->cap_cells) {
        size_t c = r->cap_cells ? 2 * r->cap_cells : 1024;
        size_t *p = scfm_realloc(r->ptr, c * sizeof *p);
        if (!p) return SCFM_ENOMEM;
        r->ptr = p;
        r->cap_cells = c;
    }
    if (r->nnz + k > r->cap_nnz) {
        size_t c = r->cap_nnz ? r->cap_nnz : 65536;
        while (c < r->nnz + k) c *= 2;
        uint32_t *gg = scfm_realloc(r->gene, c * sizeof *gg);
        if (!gg) return SCFM_ENOMEM;
        r->gene = gg;
        double *vv = scfm_realloc(r->val, c * sizeof *vv);
        if (!vv) return SCFM_ENOMEM;
        r->val = vv;
        r->cap_nnz = c;
    }
    if (!r->n_cells) r->ptr[0] = 0;
    memcpy(r->gene + r->nnz, g, k * sizeof *g);
    memcpy(r->val + r->nnz, v, k * sizeof *v);
    r->nnz += k;
    r->ptr[++r->n_cells] = r->nnz;
    return SCFM_OK;
}

/* take[i] = 1 for the cells of an input of nc cells that co-expression uses: all of them, or a
 * seeded uniform sample of max_cells without replacement (perm: nc scratch entries). */
static void sample_cells(size_t nc, const scfm_coexp_opts *o, size_t input, uint8_t *take, size_t *perm) {
    size_t want = nc < o->max_cells ? nc : o->max_cells;
    if (want == nc) { memset(take, 1, nc); return; }
    scfm_rng rng;
    scfm_rng_seed(&rng, scfm_hash3(o->seed, 1, input));
    for (size_t i = 0; i < nc; i++) perm[i] = i;
    for (size_t i = 0; i < want; i++) {
        size_t j = i + (size_t)scfm_rng_below(&rng, nc - i), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        take[perm[i]] = 1;
    }
}

int scfm_priors_is_corpus(const char *path) {
    char p[4200];
    struct stat st;
    return (size_t)snprintf(p, sizeof p, "%s/corpus.json", path) < sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The vocabulary naming a corpus's tokens: the first of o->vocab_paths with the corpus's hash,
 * else the vocab_file recorded in its settings when that file has the hash. */
static int corpus_vocab(const scfm_corpus *c, const scfm_coexp_opts *o, scfm_vocab **out) {
    uint64_t h = scfm_corpus_vocab_hash(c);
    for (size_t i = 0; i < o->n_vocab_paths; i++) {
        scfm_vocab *v = scfm_vocab_load(o->vocab_paths[i]);
        if (!v) return scfm_error_prefix(SCFM_EIO, "priors coexpression");
        if (scfm_vocab_hash(v) == h) { *out = v; return SCFM_OK; }
        scfm_vocab_free(v);
    }
    const scfm_json *set = scfm_json_get(scfm_corpus_meta(c), "settings");
    const char *vf = NULL;
    if (set && set->type == SCFM_JSON_OBJECT && !scfm_json_get_string(set, "vocab_file", &vf)) {
        scfm_vocab *v = scfm_vocab_load(vf);
        if (v && scfm_vocab_hash(v) == h) { *out = v; return SCFM_OK; }
        scfm_vocab_free(v);
        scfm_clear_error();
    }
    return scfm_error(SCFM_EMISMATCH, "%s: tokenized with vocabulary %016llx, which is none of the --vocab files%s%s%s: "
                      "give the vocabulary it was tokenized with (--vocab FILE)", scfm_corpus_dir(c),
                      (unsigned long long)h, vf ? " (nor its recorded vocab_file " : "", vf ? vf : "", vf ? ")" : "");
}

/* Reads up to o->max_cells cells of a corpus tokenized with values into rows: each token is a
 * gene named by its vocabulary token (through g->orthologs when given), its value the corpus's. */
static int coexp_read_corpus(const char *path, size_t input, const scfm_prior_genes *g, const scfm_coexp_opts *o,
                             scfm_pairs *univ, cell_rows *rows, scfm_prior_report *rep) {
    scfm_corpus *c = scfm_corpus_open(path);
    if (!c) return scfm_error_prefix(SCFM_EIO, "priors coexpression");
    scfm_vocab *v = NULL;
    int rc = scfm_corpus_has_values(c) ? SCFM_OK :
             scfm_error(SCFM_EINVAL, "%s: the corpus has no expression values (tokenize with --values): co-expression "
                        "correlates them", path);
    if (!rc) rc = corpus_vocab(c, o, &v);
    size_t nc = scfm_corpus_n_cells(c), V = scfm_vocab_size(v);
    int64_t *gmap = rc ? NULL : scfm_malloc((V ? V : 1) * sizeof *gmap);
    uint8_t *take = rc ? NULL : scfm_calloc(nc ? nc : 1, 1);
    size_t *perm = rc ? NULL : scfm_malloc((nc ? nc : 1) * sizeof *perm);
    uint32_t *og = NULL;
    double *ov = NULL;
    if (!rc && (!gmap || !take || !perm)) rc = SCFM_ENOMEM;
    for (size_t t = 0; !rc && t < V; t++) gmap[t] = -2; /* not seen yet */
    if (!rc) sample_cells(nc, o, input, take, perm);
    size_t cap = 0;
    for (size_t i = 0; !rc && i < nc; i++) {
        if (!take[i]) continue;
        const int32_t *tok;
        const float *val;
        size_t len, nt = 0;
        rc = scfm_corpus_cell(c, i, &tok, &len, &val);
        if (!rc && len > cap) {
            cap = len;
            free(og);
            free(ov);
            og = scfm_malloc(cap * sizeof *og);
            ov = scfm_malloc(cap * sizeof *ov);
            if (!og || !ov) rc = SCFM_ENOMEM;
        }
        for (size_t k = 0; !rc && k < len; k++) {
            if (tok[k] < 0 || (size_t)tok[k] >= V) { rc = scfm_error(SCFM_EFORMAT, "%s: cell %zu: token %d outside the "
                                                                     "vocabulary", path, i, tok[k]); break; }
            int64_t *m = &gmap[tok[k]];
            if (*m == -2) {
                const char *name = scfm_vocab_token(v, (size_t)tok[k]), *id = name;
                if (name[0] == '<') id = NULL; /* <pad>, <mask>, <cls>, <eos> */
                else if (g && g->orthologs) id = scfm_orthologs_lookup(g->orthologs, name);
                if (!id && name[0] != '<') rep->n_unmapped++;
                *m = id ? scfm_pairs_gene(univ, id) : -1;
                if (id && *m < 0) { rc = SCFM_ENOMEM; break; }
            }
            if (*m < 0 || !(val[k] > 0)) continue;
            size_t q = nt; /* a cell's tokens are distinct; two of them mapped to one gene (orthologs) are summed */
            if (g && g->orthologs)
                for (q = 0; q < nt && og[q] != (uint32_t)*m; q++) {}
            if (q == nt) { og[nt] = (uint32_t)*m; ov[nt++] = 0; }
            ov[q] += val[k];
        }
        if (!rc) rc = rows_push(rows, og, ov, nt);
        rep->n_records++;
    }
    free(gmap);
    free(take);
    free(perm);
    free(og);
    free(ov);
    scfm_vocab_free(v);
    scfm_corpus_close(c);
    return rc;
}

/* Reads up to o->max_cells cells of one input into rows (genes interned in univ). */
static int coexp_read(const char *path, size_t input, const scfm_prior_genes *g, const scfm_coexp_opts *o,
                      scfm_pairs *univ, cell_rows *rows, scfm_prior_report *rep) {
    scfm_reader_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.path = path;
    scfm_reader *r = scfm_reader_open(&ro);
    if (!r) return scfm_error_prefix(SCFM_EIO, "priors coexpression");
    size_t nc = scfm_reader_n_cells(r), ng = scfm_reader_n_genes(r);
    const char *const *names = scfm_reader_genes(r);
    int64_t *gmap = scfm_malloc((ng ? ng : 1) * sizeof *gmap);
    uint8_t *take = scfm_calloc(nc ? nc : 1, 1);
    size_t *perm = scfm_malloc((nc ? nc : 1) * sizeof *perm);
    double *acc = NULL;
    uint32_t *touched = NULL, *og = NULL;
    double *ov = NULL;
    int rc = gmap && take && perm ? SCFM_OK : SCFM_ENOMEM;
    char id[64];
    for (size_t i = 0; !rc && i < ng; i++) {
        if (!scfm_prior_gene_id(g, names[i], id, sizeof id)) {
            gmap[i] = -1;
            rep->n_unmapped++;
            continue;
        }
        long k = scfm_pairs_gene(univ, id);
        if (k < 0) rc = SCFM_ENOMEM;
        gmap[i] = k;
    }
    if (!rc) sample_cells(nc, o, input, take, perm);
    size_t U = univ->n_genes;
    if (!rc) {
        acc = scfm_calloc(U ? U : 1, sizeof *acc);
        touched = scfm_malloc((U ? U : 1) * sizeof *touched);
        og = scfm_malloc((U ? U : 1) * sizeof *og);
        ov = scfm_malloc((U ? U : 1) * sizeof *ov);
        if (!acc || !touched || !og || !ov) rc = SCFM_ENOMEM;
    }
    scfm_cells_chunk ch;
    memset(&ch, 0, sizeof ch);
    int more;
    while (!rc && (more = scfm_reader_next(r, &ch)) != 0) {
        if (more < 0) {
            rc = more;
            break;
        }
        for (size_t c = 0; c < ch.n_cells && !rc; c++) {
            if (!take[ch.first_cell + c]) continue;
            double total = 0;
            size_t nt = 0;
            for (size_t e = ch.indptr[c]; e < ch.indptr[c + 1]; e++) {
                total += ch.data[e];
                int64_t k = gmap[ch.indices[e]];
                if (k < 0 || ch.data[e] <= 0) continue;
                if (acc[k] == 0) touched[nt++] = (uint32_t)k;
                acc[k] += ch.data[e];
            }
            for (size_t t = 0; t < nt; t++) {
                double v = acc[touched[t]];
                og[t] = touched[t];
                ov[t] = o->log1p ? log1p(1e4 * v / total) : v;
                acc[touched[t]] = 0;
            }
            rc = rows_push(rows, og, ov, nt);
            rep->n_records++;
        }
    }
    scfm_cells_chunk_free(&ch);
    scfm_reader_close(r);
    free(gmap);
    free(take);
    free(perm);
    free(acc);
    free(touched);
    free(og);
    free(ov);
    if (rc) return scfm_error_prefix(rc, "%s", path);
    return SCFM_OK;
}

/* C[m x n] = A^T B, A [N x m] with leading dimension lda, B [N x n] (ld n). */
static void gemm_tn(size_t N, size_t m, size_t n, const double *A, size_t lda, const double *B, double *C) {
#ifdef SCFM_HAVE_BLAS
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)N, 1.0, A, (int)lda, B, (int)n, 0.0, C,
                (int)n);
#else
    memset(C, 0, m * n * sizeof *C);
    for (size_t c = 0; c < N; c++) {
        const double *a = A + c * lda, *b = B + c * n;
        for (size_t i = 0; i < m; i++) {
            double av = a[i];
            if (av == 0) continue;
            double *ci = C + i * n;
            for (size_t j = 0; j < n; j++) ci[j] += av * b[j];
        }
    }
#endif
}

int scfm_priors_coexpression(const char *const *inputs, size_t n_inputs, const scfm_prior_genes *g,
                             const scfm_coexp_opts *o, scfm_pairs *out, scfm_prior_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!n_inputs) return scfm_error(SCFM_EINVAL, "priors coexpression: no input");
    if (!o->max_cells) return scfm_error(SCFM_EINVAL, "priors coexpression: at most 0 cells per input");
    if (o->min_cells < 3) return scfm_error(SCFM_EINVAL, "priors coexpression: min cells %zu (at least 3)", o->min_cells);
    if (!(o->threshold >= -1 && o->threshold <= 1))
        return scfm_error(SCFM_EINVAL, "priors coexpression: threshold %g is not in [-1, 1]", o->threshold);
    scfm_pairs univ;
    memset(&univ, 0, sizeof univ);
    cell_rows rows;
    memset(&rows, 0, sizeof rows);
    int rc = SCFM_OK;
    for (size_t i = 0; i < n_inputs && !rc; i++)
        rc = scfm_priors_is_corpus(inputs[i]) ? coexp_read_corpus(inputs[i], i, g, o, &univ, &rows, rep)
                                               : coexp_read(inputs[i], i, g, o, &univ, &rows, rep);
    size_t U = univ.n_genes, N = rows.n_cells, K = 0;
    size_t *cnt = NULL;
    long *col = NULL;
    uint32_t *kept = NULL;
    double *X = NULL, *M = NULL, *Q = NULL, *XJ = NULL, *MJ = NULL, *QJ = NULL, *R[6] = {0};
    if (!rc && !N) rc = scfm_error(SCFM_EINVAL, "priors coexpression: the inputs have no cells");
    if (!rc && !U)
        rc = scfm_error(SCFM_EINVAL, "priors coexpression: no input gene has an Ensembl ID (give a symbol table with --gene-names)");
    if (!rc) {
        cnt = scfm_calloc(U, sizeof *cnt);
        col = scfm_malloc(U * sizeof *col);
        kept = scfm_malloc(U * sizeof *kept);
        if (!cnt || !col || !kept) rc = SCFM_ENOMEM;
    }
    for (size_t e = 0; !rc && e < rows.nnz; e++) cnt[rows.gene[e]]++;
    for (size_t u = 0; !rc && u < U; u++) {
        col[u] = cnt[u] >= o->min_cells ? (long)K : -1;
        if (col[u] >= 0) kept[K++] = (uint32_t)u;
    }
    rep->n_genes_input = K;
    if (!rc && K < 2)
        rc = scfm_error(SCFM_EINVAL, "priors coexpression: %zu genes are expressed in at least %zu of the %zu cells: no pairs",
                        K, o->min_cells, N);
    size_t nk = 0, B = o->block ? o->block : 256;
    if (B > K) B = K;
    if (!rc && (scfm_mul_size(N, K, &nk) || nk > ((size_t)1 << 33)))
        rc = scfm_error(SCFM_ENOMEM, "priors coexpression: %zu cells x %zu genes is too large (lower the cells per input "
                        "or raise the minimum cells)", N, K);
    if (!rc) {
        X = scfm_calloc(nk, sizeof *X);
        M = scfm_calloc(nk, sizeof *M);
        Q = scfm_calloc(nk, sizeof *Q);
        XJ = scfm_malloc(N * B * sizeof *XJ);
        MJ = scfm_malloc(N * B * sizeof *MJ);
        QJ = scfm_malloc(N * B * sizeof *QJ);
        for (int k = 0; k < 6; k++) R[k] = scfm_malloc(K * B * sizeof *R[k]);
        if (!X || !M || !Q || !XJ || !MJ || !QJ) rc = SCFM_ENOMEM;
        for (int k = 0; k < 6; k++)
            if (!R[k]) rc = SCFM_ENOMEM;
    }
    for (size_t c = 0; !rc && c < N; c++)
        for (size_t e = rows.ptr[c]; e < rows.ptr[c + 1]; e++) {
            long k = col[rows.gene[e]];
            if (k < 0) continue;
            double v = rows.val[e];
            X[c * K + (size_t)k] = v;
            M[c * K + (size_t)k] = 1;
            Q[c * K + (size_t)k] = v * v;
        }
    double t0 = scfm_now(), last = t0;
    for (size_t j0 = 1; !rc && j0 < K; j0 += B) {
        size_t j1 = j0 + B < K ? j0 + B : K, bj = j1 - j0;
        for (size_t c = 0; c < N; c++) {
            memcpy(XJ + c * bj, X + c * K + j0, bj * sizeof *XJ);
            memcpy(MJ + c * bj, M + c * K + j0, bj * sizeof *MJ);
            memcpy(QJ + c * bj, Q + c * K + j0, bj * sizeof *QJ);
        }
        /* rows i < j1 (pairs i < j) */
        gemm_tn(N, j1, bj, M, K, MJ, R[0]); /* n_ij */
        gemm_tn(N, j1, bj, X, K, MJ, R[1]); /* sum x_i over both expressed */
        gemm_tn(N, j1, bj, M, K, XJ, R[2]); /* sum x_j */
        gemm_tn(N, j1, bj, Q, K, MJ, R[3]); /* sum x_i^2 */
        gemm_tn(N, j1, bj, M, K, QJ, R[4]); /* sum x_j^2 */
        gemm_tn(N, j1, bj, X, K, XJ, R[5]); /* sum x_i x_j */
        for (size_t i = 0; i < j1 && !rc; i++)
            for (size_t jj = 0; jj < bj && !rc; jj++) {
                size_t j = j0 + jj, q = i * bj + jj;
                if (i >= j) continue;
                double n = R[0][q];
                if (n < (double)o->min_cells) continue;
                double sx = R[1][q], sy = R[2][q], vx = n * R[3][q] - sx * sx, vy = n * R[4][q] - sy * sy;
                if (!(vx > 1e-12 * n * R[3][q]) || !(vy > 1e-12 * n * R[4][q])) continue; /* constant */
                double r = (n * R[5][q] - sx * sy) / sqrt(vx * vy);
                if (r < o->threshold) continue;
                long a = scfm_pairs_gene(out, univ.genes[kept[i]]), b = scfm_pairs_gene(out, univ.genes[kept[j]]);
                if (a < 0 || b < 0) rc = SCFM_ENOMEM;
                else rc = scfm_pairs_add(out, (uint32_t)a, (uint32_t)b, r > 1 ? 1 : r);
            }
        double now = scfm_now();
        if (now - last > 10.0) {
            scfm_log(SCFM_LOG_PROGRESS, "priors coexpression: %zu / %zu genes, %zu pairs", j1, K, out->n);
            last = now;
        }
    }
    if (!rc) scfm_pairs_finish(out);
    rep->n_pairs = out->n;
    scfm_pairs_free(&univ);
    free(rows.ptr);
    free(rows.gene);
    free(rows.val);
    free(cnt);
    free(col);
    free(kept);
    free(X);
    free(M);
    free(Q);
    free(XJ);
    free(MJ);
    free(QJ);
    for (int k = 0; k < 6; k++) free(R[k]);
    return rc;
}

/* ---- tables -------------------------------------------------------------------------- */
typedef struct {
    char *data;
    char **line;   /* line starts (NUL-terminated) */
    size_t n_lines;
    char sep;
} table;

static void table_free(table *t) {
    free(t->data);
    free(t->line);
}

static int table_read(const char *path, table *t) {
    memset(t, 0, sizeof *t);
    size_t n;
    int rc = scfm_read_all(path, &t->data, &n);
    if (rc) return rc;
    size_t len = strlen(path);
    t->sep = (len > 4 && !strcasecmp(path + len - 4, ".csv")) || (len > 7 && !strcasecmp(path + len - 7, ".csv.gz")) ? ',' : '\t';
    size_t nl = 1;
    for (size_t i = 0; i < n; i++) nl += t->data[i] == '\n';
    t->line = scfm_malloc(nl * sizeof *t->line);
    if (!t->line) return SCFM_ENOMEM;
    char *s = t->data;
    while (*s) {
        char *e = strchr(s, '\n');
        if (e) *e = 0;
        size_t l = strlen(s);
        if (l && s[l - 1] == '\r') s[--l] = 0;
        if (l && s[0] != '#') t->line[t->n_lines++] = s;
        if (!e) break;
        s = e + 1;
    }
    if (!t->n_lines) return scfm_error(SCFM_EFORMAT, "%s: the table is empty", path);
    return SCFM_OK;
}

/* Splits line in place into at most cap fields (quotes around a whole field removed). */
static size_t split(char *line, char sep, char **f, size_t cap) {
    size_t n = 0;
    for (char *s = line;;) {
        char *e = strchr(s, sep);
        if (e) *e = 0;
        if (n < cap) {
            size_t l = strlen(s);
            if (l >= 2 && s[0] == '"' && s[l - 1] == '"') {
                s[l - 1] = 0;
                s++;
            }
            f[n++] = s;
        }
        if (!e) break;
        s = e + 1;
    }
    return n;
}

#define MAX_FIELDS 256

/* Column index of the first of the comma-separated names the header has, or an error. */
static int find_col(char **hdr, size_t nh, const char *names, const char *what, const char *path, size_t *out) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","))
        for (size_t i = 0; i < nh; i++)
            if (!strcasecmp(hdr[i], s)) {
                *out = i;
                return SCFM_OK;
            }
    char have[512];
    size_t k = 0;
    have[0] = 0;
    for (size_t i = 0; i < nh && k + 4 < sizeof have; i++)
        k += (size_t)snprintf(have + k, sizeof have - k, "%s'%s'", i ? ", " : "", hdr[i]);
    return scfm_error(SCFM_ENOTFOUND, "%s: no %s column (looked for %s; the header has %s)", path, what, names, have);
}

static int level_kept(const char *keep, const char *v) {
    if (!keep) return 1;
    size_t n = strlen(v);
    for (const char *s = keep; *s;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == n && !strncasecmp(s, v, n)) return 1;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}

typedef struct {
    uint32_t group, gene;
} group_gene;

static int cmp_gg(const void *x, const void *y) {
    const group_gene *a = x, *b = y;
    if (a->group != b->group) return a->group < b->group ? -1 : 1;
    return (a->gene > b->gene) - (a->gene < b->gene);
}

int scfm_priors_family(const char *path, const scfm_prior_genes *g, const scfm_table_opts *o, scfm_pairs *out,
                       scfm_prior_report *rep) {
    memset(rep, 0, sizeof *rep);
    table t;
    int rc = table_read(path, &t);
    char *f[MAX_FIELDS];
    size_t gc = 0, grc = 0, nh = 0;
    if (!rc) {
        nh = split(t.line[0], t.sep, f, MAX_FIELDS);
        rc = find_col(f, nh, o->gene_cols, "gene", path, &gc);
        if (!rc) rc = find_col(f, nh, o->group_cols, "group", path, &grc);
    }
    scfm_pairs groups, genes;
    memset(&groups, 0, sizeof groups);
    memset(&genes, 0, sizeof genes);
    group_gene *gg = NULL;
    size_t ngg = 0, cap_gg = t.n_lines;
    if (!rc && !(gg = scfm_malloc(cap_gg * sizeof *gg))) rc = SCFM_ENOMEM;
    char id[64];
    for (size_t i = 1; !rc && i < t.n_lines; i++) {
        size_t nf = split(t.line[i], t.sep, f, MAX_FIELDS);
        rep->n_records++;
        if (gc >= nf || grc >= nf || !f[grc][0]) {
            rep->n_skipped++;
            continue;
        }
        if (!scfm_prior_gene_id(g, f[gc], id, sizeof id)) {
            rep->n_unmapped++;
            continue;
        }
        /* a field may list several groups separated by '|' (HGNC's download does so) */
        for (char *s = f[grc]; s && !rc;) {
            char *e = strchr(s, '|');
            if (e) *e = 0;
            if (*s) {
                long gi = scfm_pairs_gene(&groups, s), ge = scfm_pairs_gene(&genes, id);
                if (gi < 0 || ge < 0) rc = SCFM_ENOMEM;
                else {
                    if (ngg == cap_gg) { /* more group memberships than lines */
                        group_gene *ng = scfm_realloc(gg, 2 * cap_gg * sizeof *gg);
                        if (!ng) rc = SCFM_ENOMEM;
                        else {
                            gg = ng;
                            cap_gg *= 2;
                        }
                    }
                    if (!rc) gg[ngg++] = (group_gene){(uint32_t)gi, (uint32_t)ge};
                }
            }
            s = e ? e + 1 : NULL;
        }
    }
    if (!rc) {
        qsort(gg, ngg, sizeof *gg, cmp_gg);
        rep->n_genes_input = genes.n_genes;
        for (size_t i = 0; i < ngg && !rc;) {
            size_t j = i, m = 0;
            while (j < ngg && gg[j].group == gg[i].group) {
                if (j == i || gg[j].gene != gg[j - 1].gene) gg[i + m++] = gg[j];
                j++;
            }
            if (o->max_group && m > o->max_group) rep->n_skipped += m;
            else
                for (size_t a = 0; a < m && !rc; a++) {
                    long ia = scfm_pairs_gene(out, genes.genes[gg[i + a].gene]);
                    for (size_t b = a + 1; b < m && !rc; b++) {
                        long ib = scfm_pairs_gene(out, genes.genes[gg[i + b].gene]);
                        if (ia < 0 || ib < 0) rc = SCFM_ENOMEM;
                        else rc = scfm_pairs_add(out, (uint32_t)ia, (uint32_t)ib, 0);
                    }
                }
            i = j;
        }
    }
    if (!rc) scfm_pairs_finish(out);
    rep->n_pairs = out->n;
    free(gg);
    scfm_pairs_free(&groups);
    scfm_pairs_free(&genes);
    table_free(&t);
    return rc;
}

int scfm_priors_grn(const char *path, const scfm_prior_genes *g, const scfm_table_opts *o, scfm_pairs *out,
                    scfm_prior_report *rep) {
    memset(rep, 0, sizeof *rep);
    table t;
    int rc = table_read(path, &t);
    char *f[MAX_FIELDS];
    size_t tc = 0, gc = 0, cc = 0, nh = 0;
    int have_conf = 0;
    if (!rc) {
        nh = split(t.line[0], t.sep, f, MAX_FIELDS);
        rc = find_col(f, nh, o->tf_cols, "TF", path, &tc);
        if (!rc) rc = find_col(f, nh, o->target_cols, "target", path, &gc);
        if (!rc && o->conf_keep) {
            rc = find_col(f, nh, o->conf_col ? o->conf_col : "confidence", "confidence", path, &cc);
            have_conf = 1;
        }
    }
    scfm_pairs seen;
    memset(&seen, 0, sizeof seen);
    char a[64], b[64];
    for (size_t i = 1; !rc && i < t.n_lines; i++) {
        size_t nf = split(t.line[i], t.sep, f, MAX_FIELDS);
        rep->n_records++;
        if (tc >= nf || gc >= nf || (have_conf && (cc >= nf || !level_kept(o->conf_keep, f[cc])))) {
            rep->n_skipped++;
            continue;
        }
        int ok_a = scfm_prior_gene_id(g, f[tc], a, sizeof a), ok_b = scfm_prior_gene_id(g, f[gc], b, sizeof b);
        rep->n_unmapped += (size_t)!ok_a + (size_t)!ok_b;
        if (!ok_a || !ok_b) continue;
        long ia = scfm_pairs_gene(out, a), ib = scfm_pairs_gene(out, b);
        if (ia < 0 || ib < 0 || scfm_pairs_gene(&seen, a) < 0 || scfm_pairs_gene(&seen, b) < 0) rc = SCFM_ENOMEM;
        else rc = scfm_pairs_add(out, (uint32_t)ia, (uint32_t)ib, 0);
    }
    if (!rc) scfm_pairs_finish(out);
    rep->n_genes_input = seen.n_genes;
    rep->n_pairs = out->n;
    scfm_pairs_free(&seen);
    table_free(&t);
    return rc;
}
