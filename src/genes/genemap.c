/* Gene identifier normalization and symbol -> Ensembl ID maps (Geneformer's
 * gene_name_id_dict, or Ensembl gene tables with gene_id, gene_name[, biotype] columns). */
#include "genes/genes_internal.h"
#include "scfm/genes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void scfm_gene_normalize(char *id) {
    if (!id) return;
    size_t n = strlen(id), a = 0;
    while (a < n && isspace((unsigned char)id[a])) a++;
    while (n > a && isspace((unsigned char)id[n - 1])) n--;
    memmove(id, id + a, n - a);
    n -= a;
    id[n] = 0;
    for (size_t k = 0; k < n; k++) id[k] = (char)toupper((unsigned char)id[k]);
    char *dot = strrchr(id, '.');
    if (!dot || !dot[1]) return;
    for (const char *p = dot + 1; *p; p++)
        if (!isdigit((unsigned char)*p)) return;
    *dot = 0;
    if (!scfm_is_ensembl_id(id)) *dot = '.';
}

int scfm_is_ensembl_id(const char *id) {
    if (!id || strncmp(id, "ENS", 3)) return 0;
    size_t k = 3;
    while (id[k] >= 'A' && id[k] <= 'Z') k++;
    /* the letters end in G, or in GR: the old PAR-on-Y spelling (ENSGR0000002586) that
     * Geneformer V1's vocabulary contains */
    int ok = k > 3 && (id[k - 1] == 'G' || (k > 4 && id[k - 1] == 'R' && id[k - 2] == 'G'));
    if (!ok || !isdigit((unsigned char)id[k])) return 0;
    while (isdigit((unsigned char)id[k])) k++;
    return id[k] == 0;
}

#define AMBIGUOUS ((int64_t)1 << 62) /* flag in sym values: symbol seen with another ID */

struct scfm_gene_map {
    scfm_gn_pool pool;
    scfm_gn_tab sym;      /* normalized symbol -> index in ids */
    scfm_gn_tab id_index; /* Ensembl ID -> index in ids (interning) */
    const char **ids;
    size_t n_ids, cap_ids;
    int32_t *biotype;     /* [n_ids]: index in biotypes, -1 if unknown */
    const char **symbol;  /* [n_ids]: the first symbol given for the ID, as written (NULL: none) */
    scfm_gn_tab bt_index; /* biotype -> index */
    const char **biotypes;
    size_t n_bt, cap_bt;
    size_t n_ambiguous;
};

scfm_gene_map *scfm_gene_map_new(void) { return scfm_calloc(1, sizeof(scfm_gene_map)); }

void scfm_gene_map_free(scfm_gene_map *m) {
    if (!m) return;
    scfm_gn_pool_free(&m->pool);
    scfm_gn_tab_free(&m->sym);
    scfm_gn_tab_free(&m->id_index);
    scfm_gn_tab_free(&m->bt_index);
    free(m->ids);
    free(m->biotype);
    free(m->symbol);
    free(m->biotypes);
    free(m);
}

size_t scfm_gene_map_size(const scfm_gene_map *m) { return m ? m->sym.n : 0; }
size_t scfm_gene_map_n_ambiguous(const scfm_gene_map *m) { return m ? m->n_ambiguous : 0; }

/* Interned index of an ID (already normalized). */
static int64_t intern_id(scfm_gene_map *m, const char *id) {
    int64_t k = scfm_gn_tab_get(&m->id_index, id);
    if (k >= 0) return k;
    if (m->n_ids == m->cap_ids) {
        size_t nc = m->cap_ids ? 2 * m->cap_ids : 1024;
        const char **ni = scfm_realloc(m->ids, nc * sizeof *ni);
        if (!ni) return SCFM_ENOMEM;
        m->ids = ni;
        int32_t *nb = scfm_realloc(m->biotype, nc * sizeof *nb);
        if (!nb) return SCFM_ENOMEM;
        m->biotype = nb;
        const char **ns = scfm_realloc(m->symbol, nc * sizeof *ns);
        if (!ns) return SCFM_ENOMEM;
        m->symbol = ns;
        m->cap_ids = nc;
    }
    const char *s = scfm_gn_pool_add(&m->pool, id, strlen(id));
    if (!s) return SCFM_ENOMEM;
    int r = scfm_gn_tab_put(&m->id_index, s, (int64_t)m->n_ids, NULL);
    if (r < 0) return r;
    m->ids[m->n_ids] = s;
    m->biotype[m->n_ids] = -1;
    m->symbol[m->n_ids] = NULL;
    return (int64_t)m->n_ids++;
}

/* symbol (raw) -> id (raw): both normalized; first mapping wins, conflicts are counted. */
static int add_pair(scfm_gene_map *m, const char *sym_raw, const char *id_raw, size_t *n_skipped) {
    char sym[256], id[256];
    if (strlen(sym_raw) >= sizeof sym || strlen(id_raw) >= sizeof id) { (*n_skipped)++; return SCFM_OK; }
    strcpy(sym, sym_raw);
    strcpy(id, id_raw);
    scfm_gene_normalize(sym);
    scfm_gene_normalize(id);
    if (!sym[0] || !scfm_is_ensembl_id(id)) { (*n_skipped)++; return SCFM_OK; }
    int64_t k = intern_id(m, id);
    if (k < 0) return (int)k;
    if (!m->symbol[k]) { /* the symbol as written (trimmed), for ID -> symbol lookups */
        const char *a = sym_raw, *e = sym_raw + strlen(sym_raw);
        while (*a == ' ' || *a == '\t') a++;
        while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
        if (!(m->symbol[k] = scfm_gn_pool_add(&m->pool, a, (size_t)(e - a)))) return SCFM_ENOMEM;
    }
    size_t *old = scfm_gn_tab_ref(&m->sym, sym);
    if (old) {
        if (!(*old & (size_t)AMBIGUOUS) && *old != (size_t)k) { *old |= (size_t)AMBIGUOUS; m->n_ambiguous++; }
        return SCFM_OK;
    }
    const char *s = scfm_gn_pool_add(&m->pool, sym, strlen(sym));
    if (!s) return SCFM_ENOMEM;
    int r = scfm_gn_tab_put(&m->sym, s, k, NULL);
    return r < 0 ? r : SCFM_OK;
}

static int set_biotype(scfm_gene_map *m, const char *id_raw, const char *bt) {
    char id[256];
    if (!bt[0] || strlen(id_raw) >= sizeof id) return SCFM_OK;
    strcpy(id, id_raw);
    scfm_gene_normalize(id);
    if (!scfm_is_ensembl_id(id)) return SCFM_OK;
    int64_t k = intern_id(m, id);
    if (k < 0) return (int)k;
    if (m->biotype[k] >= 0) return SCFM_OK;
    int64_t b = scfm_gn_tab_get(&m->bt_index, bt);
    if (b < 0) {
        if (m->n_bt == m->cap_bt) {
            size_t nc = m->cap_bt ? 2 * m->cap_bt : 64;
            const char **nb = scfm_realloc(m->biotypes, nc * sizeof *nb);
            if (!nb) return SCFM_ENOMEM;
            m->biotypes = nb;
            m->cap_bt = nc;
        }
        const char *s = scfm_gn_pool_add(&m->pool, bt, strlen(bt));
        if (!s) return SCFM_ENOMEM;
        int r = scfm_gn_tab_put(&m->bt_index, s, (int64_t)m->n_bt, NULL);
        if (r < 0) return r;
        m->biotypes[m->n_bt] = s;
        b = (int64_t)m->n_bt++;
    }
    m->biotype[k] = (int32_t)b;
    return SCFM_OK;
}

static long find_col(char **f, size_t nf, const char *name) {
    for (size_t k = 0; k < nf; k++)
        if (!strcmp(f[k], name)) return (long)k;
    return -1;
}

#define MAXF 64

/* Ensembl gene table: header with gene_id and gene_name (and optionally biotype). */
static int add_table(scfm_gene_map *m, const char *path, char *buf, size_t len, size_t pos, char *header,
                     size_t *n_rows, size_t *n_skipped) {
    char delim = strchr(header, '\t') ? '\t' : ',';
    char *f[MAXF];
    size_t nf = scfm_gn_split(header, delim, f, MAXF);
    long ci = find_col(f, nf, "gene_id"), cn = find_col(f, nf, "gene_name"), cb = find_col(f, nf, "biotype");
    if (cb < 0) cb = find_col(f, nf, "gene_biotype");
    size_t need = (size_t)(ci > cn ? ci : cn);
    if (cb > (long)need) need = (size_t)cb;
    char *line;
    size_t lineno = 1;
    while ((line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (!line[0]) continue;
        size_t n = scfm_gn_split(line, delim, f, MAXF);
        if (n <= need) return scfm_error(SCFM_EFORMAT, "%s: line %zu: %zu fields, expected at least %zu", path, lineno, n, need + 1);
        int rc = add_pair(m, f[cn], f[ci], n_skipped);
        if (!rc && cb >= 0) rc = set_biotype(m, f[ci], f[cb]);
        if (rc) return rc;
        (*n_rows)++;
    }
    return SCFM_OK;
}

static int add_dict(scfm_gene_map *m, const char *path, const scfm_pkl_dict *d, size_t *n_skipped) {
    int rc0 = scfm_gn_tab_reserve(&m->sym, m->sym.n + d->n);
    if (!rc0) rc0 = scfm_gn_tab_reserve(&m->id_index, m->id_index.n + d->n);
    if (rc0) return rc0;
    for (size_t k = 0; k < d->n; k++) {
        if (d->items[k].type != SCFM_PKL_STR)
            return scfm_error(SCFM_EFORMAT, "%s: value of '%s' is not a string (expected symbol -> Ensembl ID)", path,
                              d->items[k].key);
        int rc = add_pair(m, d->items[k].key, d->items[k].s, n_skipped);
        if (rc) return rc;
    }
    return SCFM_OK;
}

/* A header line naming gene_id and gene_name columns marks a gene table. */
static int is_table_header(const char *line) {
    char tmp[4096], *f[MAXF];
    if (strlen(line) >= sizeof tmp) return 0;
    strcpy(tmp, line);
    size_t nf = scfm_gn_split(tmp, strchr(tmp, '\t') ? '\t' : ',', f, MAXF);
    return find_col(f, nf, "gene_id") >= 0 && find_col(f, nf, "gene_name") >= 0;
}

int scfm_gene_map_add_file(scfm_gene_map *m, const char *path) {
    char *buf;
    size_t len, n_rows = 0, n_skipped = 0, amb0 = m->n_ambiguous, size0 = m->sym.n;
    int rc = scfm_gn_read_all(path, &buf, &len);
    if (rc) return rc;
    scfm_pkl_dict d = {0};
    if (len && (unsigned char)buf[0] == 0x80) {
        rc = scfm_pickle_parse_dict(buf, len, path, &d);
        free(buf);
        if (!rc) { rc = add_dict(m, path, &d, &n_skipped); n_rows = d.n; }
        scfm_pkl_dict_free(&d);
    } else if (memchr(buf, 0, len)) {
        free(buf);
        rc = scfm_error(SCFM_EFORMAT, "%s: binary data, neither a pickle nor a text table", path);
    } else {
        const char *nl = memchr(buf, '\n', len);
        size_t l1 = nl ? (size_t)(nl - buf) : len;
        char first[4096];
        int table = 0;
        if (l1 < sizeof first) {
            memcpy(first, buf, l1);
            first[l1] = 0;
            if (l1 && first[l1 - 1] == '\r') first[l1 - 1] = 0;
            table = is_table_header(first);
        }
        if (table) {
            size_t pos = 0;
            char *header = scfm_gn_next_line(buf, len, &pos);
            rc = add_table(m, path, buf, len, pos, header, &n_rows, &n_skipped);
            free(buf);
        } else {
            rc = scfm_gn_parse_kv_text(path, buf, len, 1, &d);
            if (rc) free(buf);
            else { rc = add_dict(m, path, &d, &n_skipped); n_rows = d.n; }
            scfm_pkl_dict_free(&d);
        }
    }
    if (rc) return rc;
    if (n_rows == n_skipped)
        return scfm_error(SCFM_EFORMAT, "%s: no symbol -> Ensembl ID pair found (%zu rows)", path, n_rows);
    scfm_log(SCFM_LOG_INFO, "%s: %zu rows, %zu new symbols, %zu symbols with a conflicting ID (first kept), %zu rows skipped",
             path, n_rows, m->sym.n - size0, m->n_ambiguous - amb0, n_skipped);
    return SCFM_OK;
}

/* Index of KEY, normalized as the map's keys are, in TAB; -1 if absent (or KEY too long to be a key). */
static int64_t tab_get_normalized(const scfm_gn_tab *tab, const char *key) {
    char tmp[256];
    if (strlen(key) >= sizeof tmp) return -1;
    strcpy(tmp, key);
    scfm_gene_normalize(tmp);
    return scfm_gn_tab_get(tab, tmp);
}

const char *scfm_gene_map_lookup(const scfm_gene_map *m, const char *symbol) {
    if (!m || !symbol) return NULL;
    int64_t k = tab_get_normalized(&m->sym, symbol);
    return k >= 0 ? m->ids[k & ~AMBIGUOUS] : NULL;
}

const char *scfm_gene_map_symbol(const scfm_gene_map *m, const char *ensembl_id) {
    if (!m || !ensembl_id) return NULL;
    int64_t k = tab_get_normalized(&m->id_index, ensembl_id);
    return k >= 0 ? m->symbol[k] : NULL;
}

const char *scfm_gene_map_biotype(const scfm_gene_map *m, const char *ensembl_id) {
    if (!m || !ensembl_id) return NULL;
    int64_t k = tab_get_normalized(&m->id_index, ensembl_id);
    return k >= 0 && m->biotype[k] >= 0 ? m->biotypes[m->biotype[k]] : NULL;
}
