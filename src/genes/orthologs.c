/* Ortholog tables: Ensembl BioMart exports (csv[.gz], either direction) and HGNC HCOP
 * (tsv[.gz], babelgene layout with support_n). Result: source-species ID -> target ID.
 * A BioMart export without stable-ID columns but with gene-name columns ("Gene name",
 * "<Species> gene name") gives symbol -> symbol pairs instead (scfm_orthologs_by_symbol);
 * BioMart's column titles are matched case-insensitively with '.' and '_' read as spaces, so
 * the R-style names of the same export ("gene.name", "human.homology.type") are read too.
 *
 * Rules (recorded by scfm_orthologs_rule):
 *  - rows are filtered first: BioMart by homology type (one2one_only: ortholog_one2one;
 *    otherwise any ortholog_*) and confidence (>= min_confidence when min_confidence > 0);
 *    HCOP by support_n >= min_support. IDs must be Ensembl IDs (versions stripped); duplicate
 *    pairs count once.
 *  - one2one_only: a pair is kept when its source has no other target and its target no
 *    other source among the filtered pairs ("one2one").
 *  - otherwise: a pair is kept when its source has exactly one target; several sources may
 *    share a target, and callers sum their counts ("many2one"). Sources with several
 *    targets are dropped. */
#include "genes/genes_internal.h"
#include "scfm/genes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scfm_orthologs {
    scfm_gn_pool pool;
    scfm_gn_tab map; /* source ID -> index in targets */
    const char **targets, **sources; /* kept pairs in file order */
    size_t n, cap;
    int by_symbol; /* pairs of gene symbols (normalized), not Ensembl IDs */
    char rule[160];
    scfm_ortholog_stats st;
};

typedef struct { const char *src, *dst; } opair;

typedef struct {
    scfm_gn_pool pool;
    scfm_gn_tab seen;   /* "src\tdst" */
    opair *pairs;
    size_t n, cap;
    scfm_ortholog_stats *st;
    int symbols; /* pairs are gene symbols: any non-empty identifier is taken */
} pairset;

static int pairset_add(pairset *ps, const char *src_raw, const char *dst_raw) {
    char src[128], dst[128], both[260];
    if (strlen(src_raw) >= sizeof src || strlen(dst_raw) >= sizeof dst) { ps->st->n_not_id++; return SCFM_OK; }
    strcpy(src, src_raw);
    strcpy(dst, dst_raw);
    scfm_gene_normalize(src);
    scfm_gene_normalize(dst);
    if (ps->symbols ? !src[0] || !dst[0] : !scfm_is_ensembl_id(src) || !scfm_is_ensembl_id(dst)) {
        ps->st->n_not_id++;
        return SCFM_OK;
    }
    snprintf(both, sizeof both, "%s\t%s", src, dst);
    if (scfm_gn_tab_get(&ps->seen, both) >= 0) { ps->st->n_duplicate++; return SCFM_OK; }
    const char *b = scfm_gn_pool_add(&ps->pool, both, strlen(both));
    if (!b) return SCFM_ENOMEM;
    int r = scfm_gn_tab_put(&ps->seen, b, 1, NULL);
    if (r < 0) return r;
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? 2 * ps->cap : 4096;
        opair *np = scfm_realloc(ps->pairs, nc * sizeof *np);
        if (!np) return SCFM_ENOMEM;
        ps->pairs = np;
        ps->cap = nc;
    }
    size_t ls = strlen(src);
    ps->pairs[ps->n].src = b; /* "src\tdst": split in place below */
    ps->pairs[ps->n].dst = b + ls + 1;
    ps->n++;
    return SCFM_OK;
}

static long col(char **f, size_t nf, const char *name, int prefix) {
    for (size_t k = 0; k < nf; k++)
        if (prefix ? !strncmp(f[k], name, strlen(name)) : !strcmp(f[k], name)) return (long)k;
    return -1;
}

#define MAXF 64

/* BioMart column title as compared: lower case, '.' and '_' as spaces ("Human homology type"
 * and R's "human.homology.type" both become "human homology type"). */
static void title_norm(char *s) {
    for (; *s; s++) *s = *s == '.' || *s == '_' ? ' ' : (char)tolower((unsigned char)*s);
}

/* Gene column `self` ("gene stable id") and partner column "<species> gene stable id": their
 * indices and the partner species' name, or -1. */
static void biomart_key_cols(char **hf, size_t nh, const char *self, long *cg, long *cp, char *sp, size_t spcap) {
    *cg = col(hf, nh, self, 0);
    *cp = -1;
    char suf[40];
    snprintf(suf, sizeof suf, " %s", self);
    for (size_t k = 0; k < nh; k++) {
        size_t l = strlen(hf[k]), ls = strlen(suf);
        if ((long)k != *cg && l > ls && l - ls < spcap && !strcmp(hf[k] + l - ls, suf)) {
            *cp = (long)k;
            memcpy(sp, hf[k], l - ls);
            sp[l - ls] = 0;
        }
    }
}

static int read_biomart(const char *path, char *buf, size_t len, char **hf, size_t nh, size_t pos, const char *from,
                        const scfm_ortholog_opts *o, pairset *ps) {
    for (size_t k = 0; k < nh; k++) title_norm(hf[k]);
    long cg, cp;
    char sp[32] = "";
    biomart_key_cols(hf, nh, "gene stable id", &cg, &cp, sp, sizeof sp);
    if (cg < 0 || cp < 0) {
        biomart_key_cols(hf, nh, "gene name", &cg, &cp, sp, sizeof sp);
        ps->symbols = cg >= 0 && cp >= 0;
    }
    if (cg < 0 || cp < 0)
        return scfm_error(SCFM_EFORMAT, "%s: BioMart header lacks 'Gene stable ID' / '<Species> gene stable ID' "
                          "(or 'Gene name' / '<Species> gene name')", path);
    const char *partner = !strcmp(sp, "mouse") ? "mouse" : !strcmp(sp, "human") ? "human" : NULL;
    if (!partner) return scfm_error(SCFM_EINVAL, "%s: partner species '%s' is not supported (human, mouse)", path, sp);
    char name[64];
    snprintf(name, sizeof name, "%s homology type", sp);
    long ct = col(hf, nh, name, 0);
    snprintf(name, sizeof name, "%s orthology confidence", sp);
    long cc = col(hf, nh, name, 1);
    if (ct < 0) return scfm_error(SCFM_EFORMAT, "%s: BioMart header lacks '%s homology type'", path, sp);
    if (o->min_confidence > 0 && cc < 0)
        return scfm_error(SCFM_EFORMAT, "%s: a minimum confidence was asked for but the file has no confidence column", path);
    int forward = strcmp(from, partner) != 0; /* from = the file's gene column species */
    long need = cg > cp ? cg : cp;
    if (ct > need) need = ct;
    if (cc > need) need = cc;
    char *line, *f[MAXF];
    size_t lineno = 1;
    while ((line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (!line[0]) continue;
        size_t n = scfm_gn_split(line, ',', f, MAXF);
        if ((long)n <= need) return scfm_error(SCFM_EFORMAT, "%s: line %zu: %zu fields, expected %ld", path, lineno, n, need + 1);
        if (!f[cp][0]) continue;
        ps->st->n_rows++;
        const char *type = f[ct];
        if (o->one2one_only ? strcmp(type, "ortholog_one2one") != 0 : strncmp(type, "ortholog_", 9) != 0) {
            ps->st->n_not_one2one++;
            continue;
        }
        if (o->min_confidence > 0) {
            long c;
            if (!f[cc][0] || scfm_parse_long(f[cc], 0, 1000, &c) || c < o->min_confidence) { ps->st->n_below_support++; continue; }
        }
        int rc = forward ? pairset_add(ps, f[cg], f[cp]) : pairset_add(ps, f[cp], f[cg]);
        if (rc) return rc;
    }
    return SCFM_OK;
}

static int read_hcop(const char *path, char *buf, size_t len, char **hf, size_t nh, size_t pos, const char *from,
                     const scfm_ortholog_opts *o, pairset *ps) {
    long ch = col(hf, nh, "human_ensembl", 0), cm = col(hf, nh, "ensembl", 0), cs = col(hf, nh, "support_n", 0);
    long ct = col(hf, nh, "taxon_id", 0);
    if (ch < 0 || cm < 0 || cs < 0)
        return scfm_error(SCFM_EFORMAT, "%s: HCOP header lacks human_ensembl, ensembl or support_n", path);
    int forward = !strcmp(from, "human");
    long need = ch > cm ? ch : cm;
    if (cs > need) need = cs;
    if (ct > need) need = ct;
    char *line, *f[MAXF];
    size_t lineno = 1;
    while ((line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (!line[0]) continue;
        size_t n = scfm_gn_split(line, '\t', f, MAXF);
        if ((long)n <= need) return scfm_error(SCFM_EFORMAT, "%s: line %zu: %zu fields, expected %ld", path, lineno, n, need + 1);
        if (ct >= 0 && strcmp(f[ct], "10090")) continue; /* mouse only */
        ps->st->n_rows++;
        long sup;
        if (scfm_parse_long(f[cs], 0, 1000000, &sup))
            return scfm_error(SCFM_EFORMAT, "%s: line %zu: support_n '%s' is not an integer", path, lineno, f[cs]);
        if (sup < o->min_support) { ps->st->n_below_support++; continue; }
        int rc = forward ? pairset_add(ps, f[ch], f[cm]) : pairset_add(ps, f[cm], f[ch]);
        if (rc) return rc;
    }
    return SCFM_OK;
}

/* Applies the uniqueness rule and fills the map. */
static int build_map(scfm_orthologs *r, pairset *ps, int one2one) {
    scfm_gn_tab ns = {0}, nd = {0}; /* distinct targets per source, sources per target */
    int rc = scfm_gn_tab_init(&ns, ps->n);
    if (!rc) rc = scfm_gn_tab_init(&nd, ps->n);
    for (size_t k = 0; !rc && k < ps->n; k++) {
        char *t = (char *)ps->pairs[k].dst - 1;
        *t = 0; /* "src\tdst" -> "src\0dst"; the pair set's table is no longer used */
    }
    for (size_t k = 0; !rc && k < ps->n; k++) {
        const char *keys[2] = {ps->pairs[k].src, ps->pairs[k].dst};
        scfm_gn_tab *tabs[2] = {&ns, &nd};
        for (int j = 0; j < 2 && !rc; j++) {
            size_t *cnt = scfm_gn_tab_ref(tabs[j], keys[j]);
            if (cnt) (*cnt)++;
            else {
                int p = scfm_gn_tab_put(tabs[j], keys[j], 1, NULL);
                if (p < 0) rc = p;
            }
        }
    }
    if (!rc) rc = scfm_gn_tab_init(&r->map, ps->n);
    for (size_t k = 0; !rc && k < ps->n; k++) {
        const opair *p = &ps->pairs[k];
        if (scfm_gn_tab_get(&ns, p->src) != 1 || (one2one && scfm_gn_tab_get(&nd, p->dst) != 1)) {
            r->st.n_not_unique++;
            continue;
        }
        if (r->n == r->cap) {
            size_t nc = r->cap ? 2 * r->cap : 4096;
            const char **nt = scfm_realloc(r->targets, nc * sizeof *nt);
            if (!nt) { rc = SCFM_ENOMEM; break; }
            r->targets = nt;
            const char **nsrc = scfm_realloc(r->sources, nc * sizeof *nsrc);
            if (!nsrc) { rc = SCFM_ENOMEM; break; }
            r->sources = nsrc;
            r->cap = nc;
        }
        const char *s = scfm_gn_pool_add(&r->pool, p->src, strlen(p->src));
        const char *d = s ? scfm_gn_pool_add(&r->pool, p->dst, strlen(p->dst)) : NULL;
        if (!d) { rc = SCFM_ENOMEM; break; }
        int q = scfm_gn_tab_put(&r->map, s, (int64_t)r->n, NULL);
        if (q < 0) { rc = q; break; }
        r->sources[r->n] = s;
        r->targets[r->n++] = d;
    }
    scfm_gn_tab_free(&ns);
    scfm_gn_tab_free(&nd);
    return rc;
}

/* Header of neither layout: names the columns seen and the ones expected. */
/* A BioMart export has a homology-type column ("<Species> homology type", any title style). */
static int biomart_like(char **hf, size_t nh) {
    for (size_t k = 0; k < nh; k++) {
        char t[128];
        snprintf(t, sizeof t, "%s", hf[k]);
        title_norm(t);
        size_t n = strlen(t);
        if (n >= 13 && !strcmp(t + n - 13, "homology type")) return 1;
    }
    return 0;
}

static int unknown_columns(const char *path, char **hf, size_t nh) {
    char seen[256] = "";
    size_t used = 0;
    for (size_t k = 0; k < nh && used + 4 < sizeof seen; k++) {
        int n = snprintf(seen + used, sizeof seen - used, "%s'%s'", k ? ", " : "", hf[k]);
        if (n < 0) break;
        used += (size_t)n < sizeof seen - used ? (size_t)n : sizeof seen - used - 1;
    }
    return scfm_error(SCFM_EFORMAT, "%s: unknown ortholog table columns (%s): expected an Ensembl BioMart export "
                      "(csv: 'Gene stable ID' or 'Gene name', '<Species> gene stable ID' or '<Species> gene name', '<Species> homology type') or an HGNC HCOP "
                      "table (tsv: human_ensembl, ensembl, support_n)", path, seen);
}

static int valid_species(const char *s) { return s && (!strcmp(s, "human") || !strcmp(s, "mouse")); }

scfm_orthologs *scfm_orthologs_load(const char *path, const char *from, const char *to, const scfm_ortholog_opts *o) {
    scfm_ortholog_opts def = {1, 0, 0};
    if (!o) o = &def;
    if (!valid_species(from) || !valid_species(to) || !strcmp(from, to)) {
        scfm_error(SCFM_EINVAL, "%s: orthologs need two different species among human and mouse (got '%s' -> '%s')",
                   path, from ? from : "(null)", to ? to : "(null)");
        return NULL;
    }
    if (o->min_support < 0 || o->min_confidence < 0) {
        scfm_error(SCFM_EINVAL, "%s: negative minimum support or confidence", path);
        return NULL;
    }
    char *buf;
    size_t len, pos = 0;
    if (scfm_gn_read_all(path, &buf, &len)) return NULL;
    scfm_orthologs *r = scfm_calloc(1, sizeof *r);
    pairset ps;
    memset(&ps, 0, sizeof ps);
    int rc = r ? SCFM_OK : SCFM_ENOMEM;
    if (r) ps.st = &r->st;
    char *header = rc ? NULL : scfm_gn_next_line(buf, len, &pos), *hf[MAXF];
    if (!rc && !header) rc = scfm_error(SCFM_EFORMAT, "%s: empty file", path);
    int hcop = 0;
    if (!rc) {
        hcop = strchr(header, '\t') != NULL;
        size_t nh = scfm_gn_split(header, hcop ? '\t' : ',', hf, MAXF);
        if (hcop ? col(hf, nh, "human_ensembl", 0) < 0 : !biomart_like(hf, nh))
            rc = unknown_columns(path, hf, nh);
        else
            rc = hcop ? read_hcop(path, buf, len, hf, nh, pos, from, o, &ps)
                      : read_biomart(path, buf, len, hf, nh, pos, from, o, &ps);
    }
    if (!rc) rc = build_map(r, &ps, o->one2one_only);
    if (!rc) r->st.n_kept = r->n;
    if (!rc && r->n == 0) rc = scfm_error(SCFM_EDATA, "%s: no %s -> %s ortholog pair passes the filters", path, from, to);
    if (!rc) {
        r->by_symbol = ps.symbols;
        if (hcop)
            snprintf(r->rule, sizeof r->rule, "hcop:%s->%s:%s:support>=%d", from, to,
                     o->one2one_only ? "one2one" : "many2one", o->min_support);
        else
            snprintf(r->rule, sizeof r->rule, "%s:%s->%s:%s:conf>=%d", ps.symbols ? "biomart-names" : "biomart", from, to,
                     o->one2one_only ? "one2one" : "many2one", o->min_confidence);
    }
    free(ps.pairs);
    scfm_gn_pool_free(&ps.pool);
    scfm_gn_tab_free(&ps.seen);
    free(buf);
    if (rc) { scfm_orthologs_free(r); return NULL; }
    return r;
}

const char *scfm_orthologs_lookup(const scfm_orthologs *o, const char *id) {
    char tmp[128];
    if (!o || !id || strlen(id) >= sizeof tmp) return NULL;
    strcpy(tmp, id);
    scfm_gene_normalize(tmp);
    int64_t k = scfm_gn_tab_get(&o->map, tmp);
    return k >= 0 ? o->targets[k] : NULL;
}

size_t scfm_orthologs_size(const scfm_orthologs *o) { return o ? o->n : 0; }

void scfm_orthologs_stats_get(const scfm_orthologs *o, scfm_ortholog_stats *out) {
    if (o) *out = o->st;
    else memset(out, 0, sizeof *out);
}

const char *scfm_orthologs_pair(const scfm_orthologs *o, size_t k, const char **target) {
    if (!o || k >= o->n) return NULL;
    *target = o->targets[k];
    return o->sources[k];
}

int scfm_orthologs_by_symbol(const scfm_orthologs *o) { return o ? o->by_symbol : 0; }
const char *scfm_orthologs_rule(const scfm_orthologs *o) { return o ? o->rule : ""; }

void scfm_orthologs_free(scfm_orthologs *o) {
    if (!o) return;
    scfm_gn_pool_free(&o->pool);
    scfm_gn_tab_free(&o->map);
    free(o->targets);
    free(o->sources);
    free(o);
}
