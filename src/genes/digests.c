/* Mergeable per-gene median digests: DDSketch-style logarithmic buckets.
 *
 * alpha = SCFM_DIGEST_REL_ERR, gamma = (1 + alpha) / (1 - alpha). A value v > 0 falls in
 * bucket k = ceil(log(v) / log(gamma)), which covers (gamma^(k-1), gamma^k]; the bucket is
 * represented by 2 gamma^k / (gamma + 1), within relative error alpha of every value in it.
 * Each gene keeps a dense window of bucket counts. With n values, the reported median is
 * the mean of the representatives of the buckets holding the order statistics of 0-based
 * ranks floor((n-1)/2) and ceil((n-1)/2); it is therefore within relative error alpha of the
 * exact median (numpy.median: the mean of the two middle values). Merging adds counts, so
 * digest(A) merged with digest(B) equals digest(A + B) exactly.
 *
 * File (little-endian): "SCFMDGST", u32 version (1), u32 flags (0), f64 alpha, u64 n_genes;
 * per gene: u32 id length, id bytes, u64 total count, u32 number of non-empty buckets, then
 * per bucket i32 key (strictly increasing) and u64 count (> 0); finally u64 FNV-1a-64 of all
 * preceding bytes. */
#include "scfm/genes.h"
#include "genes/genes_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DG_MAGIC "SCFMDGST"
#define DG_VERSION 1u
#define DG_KEY_MAX 200000 /* |log(v)/log(gamma)| <= ~75,000 for finite doubles */

typedef struct {
    int32_t lo;    /* key of c[0] */
    uint32_t n;    /* window length */
    uint64_t *c;   /* [n] bucket counts */
    uint64_t total;
} gstore;

struct scfm_digests {
    size_t n;
    gstore *g;
    double lg;     /* log(gamma) */
    double rep;    /* 2 / (gamma + 1) */
};

scfm_digests *scfm_digests_new(size_t n_genes) {
    scfm_digests *d = scfm_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->g = scfm_calloc(n_genes ? n_genes : 1, sizeof *d->g);
    if (!d->g) { free(d); return NULL; }
    d->n = n_genes;
    double a = SCFM_DIGEST_REL_ERR, gamma = (1 + a) / (1 - a);
    d->lg = log(gamma);
    d->rep = 2.0 / (gamma + 1.0);
    return d;
}

void scfm_digests_free(scfm_digests *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) free(d->g[i].c);
    free(d->g);
    free(d);
}

size_t scfm_digests_n_genes(const scfm_digests *d) { return d ? d->n : 0; }

/* Makes the window of s cover keys [klo, khi]. */
static int store_cover(gstore *s, int32_t klo, int32_t khi) {
    if (s->n && klo >= s->lo && (int64_t)khi < (int64_t)s->lo + s->n) return SCFM_OK;
    int64_t lo = s->n ? (klo < s->lo ? klo : s->lo) : klo;
    int64_t hi = s->n ? (khi > (int64_t)s->lo + s->n - 1 ? khi : (int64_t)s->lo + s->n - 1) : khi;
    int64_t pad = (hi - lo + 1) / 2 + 8;
    if (s->n && klo < s->lo) lo -= pad;
    if (s->n && khi >= (int64_t)s->lo + s->n) hi += pad;
    if (!s->n) { lo -= 8; hi += 8; }
    if (lo < -DG_KEY_MAX) lo = -DG_KEY_MAX;
    if (hi > DG_KEY_MAX) hi = DG_KEY_MAX;
    size_t nn = (size_t)(hi - lo + 1);
    uint64_t *c = scfm_calloc(nn, sizeof *c);
    if (!c) return SCFM_ENOMEM;
    if (s->n) memcpy(c + (s->lo - lo), s->c, s->n * sizeof *c);
    free(s->c);
    s->c = c;
    s->lo = (int32_t)lo;
    s->n = (uint32_t)nn;
    return SCFM_OK;
}

int scfm_digests_add(scfm_digests *d, size_t gene, double value) {
    if (gene >= d->n) return scfm_error(SCFM_EINVAL, "digest: gene %zu out of range (%zu genes)", gene, d->n);
    if (!(value > 0) || !isfinite(value))
        return scfm_error(SCFM_EDATA, "digest: gene %zu: value %g is not a positive finite number", gene, value);
    double kd = ceil(log(value) / d->lg);
    int32_t k = (int32_t)kd;
    gstore *s = &d->g[gene];
    int rc = store_cover(s, k, k);
    if (rc) return rc;
    s->c[k - s->lo]++;
    s->total++;
    return SCFM_OK;
}

int scfm_digests_merge(scfm_digests *into, const scfm_digests *from) {
    if (into->n != from->n)
        return scfm_error(SCFM_EMISMATCH, "digest merge: %zu genes vs %zu", into->n, from->n);
    for (size_t i = 0; i < from->n; i++) {
        const gstore *f = &from->g[i];
        if (!f->total) continue;
        uint32_t a = 0, b = f->n;
        while (a < b && !f->c[a]) a++;
        while (b > a && !f->c[b - 1]) b--;
        gstore *s = &into->g[i];
        int rc = store_cover(s, f->lo + (int32_t)a, f->lo + (int32_t)b - 1);
        if (rc) return rc;
        for (uint32_t k = a; k < b; k++) s->c[f->lo + (int32_t)k - s->lo] += f->c[k];
        s->total += f->total;
    }
    return SCFM_OK;
}

uint64_t scfm_digests_count(const scfm_digests *d, size_t gene) { return d && gene < d->n ? d->g[gene].total : 0; }

static double key_value(const scfm_digests *d, int64_t k) { return d->rep * exp((double)k * d->lg); }

/* Key of the bucket holding 0-based rank r. */
static int64_t rank_key(const gstore *s, uint64_t r) {
    uint64_t cum = 0;
    for (uint32_t k = 0; k < s->n; k++) {
        cum += s->c[k];
        if (cum > r) return (int64_t)s->lo + k;
    }
    return (int64_t)s->lo + s->n - 1;
}

double scfm_digests_median(const scfm_digests *d, size_t gene) {
    if (!d || gene >= d->n || !d->g[gene].total) return NAN;
    const gstore *s = &d->g[gene];
    uint64_t n = s->total;
    int64_t klo = rank_key(s, (n - 1) / 2), khi = rank_key(s, n / 2);
    return klo == khi ? key_value(d, klo) : 0.5 * (key_value(d, klo) + key_value(d, khi));
}

/* ---- file ----------------------------------------------------------------------------------- */
static unsigned char *put_u32(unsigned char *w, uint32_t v) {
    for (int k = 0; k < 4; k++) *w++ = (unsigned char)(v >> (8 * k));
    return w;
}
static unsigned char *put_u64(unsigned char *w, uint64_t v) {
    for (int k = 0; k < 8; k++) *w++ = (unsigned char)(v >> (8 * k));
    return w;
}
static uint64_t get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int k = n; k-- > 0;) v = (v << 8) | p[k];
    return v;
}

int scfm_digests_save(const scfm_digests *d, const char *const *gene_ids, const char *path) {
    size_t size = 8 + 4 + 4 + 8 + 8 + 8;
    for (size_t i = 0; i < d->n; i++) {
        size_t idl = gene_ids && gene_ids[i] ? strlen(gene_ids[i]) : 0, nz = 0;
        if (idl > UINT32_MAX) return scfm_error(SCFM_EINVAL, "%s: gene id %zu too long", path, i);
        for (uint32_t k = 0; k < d->g[i].n; k++) nz += d->g[i].c[k] != 0;
        size += 4 + idl + 8 + 4 + nz * 12;
    }
    unsigned char *buf = scfm_malloc(size), *w = buf;
    if (!buf) return SCFM_ENOMEM;
    memcpy(w, DG_MAGIC, 8);
    w = put_u32(w + 8, DG_VERSION);
    w = put_u32(w, 0);
    double a = SCFM_DIGEST_REL_ERR;
    uint64_t ab;
    memcpy(&ab, &a, 8);
    w = put_u64(w, ab);
    w = put_u64(w, d->n);
    for (size_t i = 0; i < d->n; i++) {
        const gstore *s = &d->g[i];
        size_t idl = gene_ids && gene_ids[i] ? strlen(gene_ids[i]) : 0;
        w = put_u32(w, (uint32_t)idl);
        if (idl) memcpy(w, gene_ids[i], idl);
        w = put_u64(w + idl, s->total);
        uint32_t nz = 0;
        for (uint32_t k = 0; k < s->n; k++) nz += s->c[k] != 0;
        w = put_u32(w, nz);
        for (uint32_t k = 0; k < s->n; k++)
            if (s->c[k]) { w = put_u32(w, (uint32_t)(s->lo + (int32_t)k)); w = put_u64(w, s->c[k]); }
    }
    w = put_u64(w, scfm_gn_fnv1a(buf, (size_t)(w - buf), SCFM_GN_FNV_INIT));
    int rc = (size_t)(w - buf) == size ? scfm_write_file_atomic(path, buf, size)
                                        : scfm_error(SCFM_EINVAL, "%s: internal size mismatch", path);
    free(buf);
    return rc;
}

typedef struct { const unsigned char *p; size_t len, pos; const char *path; } rdr;

static int take(rdr *r, size_t n, const unsigned char **out) {
    if (n > r->len - r->pos) return scfm_error(SCFM_EFORMAT, "%s: truncated digest file (at byte %zu)", r->path, r->pos);
    *out = r->p + r->pos;
    r->pos += n;
    return SCFM_OK;
}

static int load_gene(rdr *r, scfm_digests *d, size_t i, char **id_out) {
    const unsigned char *b = NULL;
    int rc = take(r, 4, &b);
    if (rc) return rc;
    size_t idl = (size_t)get_le(b, 4);
    if ((rc = take(r, idl, &b))) return rc;
    if (memchr(b, 0, idl)) return scfm_error(SCFM_EFORMAT, "%s: gene %zu: id contains a NUL byte", r->path, i);
    if (id_out) {
        if (!(*id_out = scfm_malloc(idl + 1))) return SCFM_ENOMEM;
        memcpy(*id_out, b, idl);
        (*id_out)[idl] = 0;
    }
    if ((rc = take(r, 12, &b))) return rc;
    uint64_t total = get_le(b, 8), sum = 0;
    uint32_t nz = (uint32_t)get_le(b + 8, 4);
    if ((size_t)nz > (r->len - r->pos) / 12) return scfm_error(SCFM_EFORMAT, "%s: gene %zu: truncated buckets", r->path, i);
    gstore *s = &d->g[i];
    int64_t prev = INT64_MIN;
    const unsigned char *bk = r->p + r->pos;
    r->pos += (size_t)nz * 12;
    for (uint32_t k = 0; k < nz; k++) {
        int32_t key = (int32_t)(uint32_t)get_le(bk + 12 * (size_t)k, 4);
        uint64_t c = get_le(bk + 12 * (size_t)k + 4, 8);
        if (key <= prev || key < -DG_KEY_MAX || key > DG_KEY_MAX || c == 0 || sum + c < sum)
            return scfm_error(SCFM_EFORMAT, "%s: gene %zu: invalid bucket %u", r->path, i, (unsigned)k);
        prev = key;
        sum += c;
    }
    if (sum != total) return scfm_error(SCFM_EFORMAT, "%s: gene %zu: bucket counts do not add up to its total", r->path, i);
    if (nz) {
        int32_t k0 = (int32_t)(uint32_t)get_le(bk, 4);
        if ((rc = store_cover(s, k0, (int32_t)prev))) return rc;
        for (uint32_t k = 0; k < nz; k++)
            s->c[(int32_t)(uint32_t)get_le(bk + 12 * (size_t)k, 4) - s->lo] = get_le(bk + 12 * (size_t)k + 4, 8);
    }
    s->total = total;
    return SCFM_OK;
}

scfm_digests *scfm_digests_load(const char *path, char ***gene_ids_out) {
    if (gene_ids_out) *gene_ids_out = NULL;
    char *data;
    size_t len;
    if (scfm_read_file(path, &data, &len)) return NULL;
    const unsigned char *p = (const unsigned char *)data;
    scfm_digests *d = NULL;
    char **ids = NULL;
    int rc = SCFM_OK;
    if (len < 40 || memcmp(p, DG_MAGIC, 8)) rc = scfm_error(SCFM_EFORMAT, "%s: not an scfm digest file", path);
    else if (get_le(p + len - 8, 8) != scfm_gn_fnv1a(p, len - 8, SCFM_GN_FNV_INIT))
        rc = scfm_error(SCFM_EFORMAT, "%s: checksum mismatch (file corrupt or truncated)", path);
    else if (get_le(p + 8, 4) != DG_VERSION)
        rc = scfm_error(SCFM_EFORMAT, "%s: digest format version %u is not supported (expected %u)", path,
                        (unsigned)get_le(p + 8, 4), DG_VERSION);
    double a = 0;
    uint64_t ab = rc ? 0 : get_le(p + 16, 8), ng = rc ? 0 : get_le(p + 24, 8);
    memcpy(&a, &ab, 8);
    if (!rc && a != SCFM_DIGEST_REL_ERR)
        rc = scfm_error(SCFM_EMISMATCH, "%s: digest relative error %g differs from this build's %g", path, a,
                        SCFM_DIGEST_REL_ERR);
    if (!rc && ng > (len - 40) / 16) rc = scfm_error(SCFM_EFORMAT, "%s: gene count %llu too large for the file", path,
                                                    (unsigned long long)ng);
    if (!rc && !(d = scfm_digests_new((size_t)ng))) rc = SCFM_ENOMEM;
    if (!rc && gene_ids_out && !(ids = scfm_calloc((size_t)ng + 1, sizeof *ids))) rc = SCFM_ENOMEM;
    rdr r = {p, len - 8, 32, path};
    for (size_t i = 0; !rc && i < (size_t)ng; i++) rc = load_gene(&r, d, i, ids ? &ids[i] : NULL);
    if (!rc && r.pos != r.len) rc = scfm_error(SCFM_EFORMAT, "%s: %zu unexpected bytes after the last gene", path, r.len - r.pos);
    free(data);
    if (rc) {
        for (size_t i = 0; ids && i < (size_t)ng; i++) free(ids[i]);
        free(ids);
        scfm_digests_free(d);
        return NULL;
    }
    if (gene_ids_out) *gene_ids_out = ids;
    return d;
}
