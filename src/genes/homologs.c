/* Joint (GeneCompass) vocabularies: the species of gene IDs, the homolog map file
 * (homologs.tsv: human token -> mouse token) and vocab.json, which marks a vocabulary as joint
 * (docs/computation.md section 3). Layouts in scfm/genes.h. */
#include "genes/genes_internal.h"
#include "scfm/genes.h"
#include "scfm/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOMOLOGS_HEADER "human_token\tmouse_token\thuman_id\tmouse_id"

int scfm_gene_species(const char *id) {
    if (!id) return -1;
    if (!strncmp(id, SCFM_SYMBOL_PREFIX_HUMAN, sizeof SCFM_SYMBOL_PREFIX_HUMAN - 1)) return id[6] ? 0 : -1;
    if (!strncmp(id, SCFM_SYMBOL_PREFIX_MOUSE, sizeof SCFM_SYMBOL_PREFIX_MOUSE - 1)) return id[6] ? 1 : -1;
    if (strncmp(id, "ENS", 3)) return -1;
    if (!strncmp(id, "ENSMUSG", 7) && id[7] >= '0' && id[7] <= '9') return 1;
    if (id[3] == 'G' && ((id[4] >= '0' && id[4] <= '9') || (id[4] == 'R' && id[5] >= '0' && id[5] <= '9'))) return 0;
    return -1;
}

unsigned scfm_vocab_species_mask(const scfm_vocab *v) {
    unsigned m = 0;
    for (size_t i = 0; v && i < scfm_vocab_size(v) && m != 3u; i++) {
        int s = scfm_gene_species(scfm_vocab_token(v, i));
        if (s >= 0) m |= 1u << s;
    }
    return m;
}

int scfm_file_fnv1a64(const char *path, uint64_t *out) {
    char *data = NULL;
    size_t len = 0;
    int rc = scfm_read_file(path, &data, &len);
    if (rc) return rc;
    *out = scfm_gn_fnv1a(data, len, SCFM_GN_FNV_INIT);
    free(data);
    return SCFM_OK;
}

/* Token field: an integer inside v naming a gene of `species` (0 human, 1 mouse) equal to id. */
static int homolog_token(const char *path, size_t lineno, const char *field, const char *id, int species,
                         const scfm_vocab *v, int64_t *out) {
    long t;
    const char *what = species ? "mouse" : "human";
    if (scfm_parse_long(field, 0, INT32_MAX, &t))
        return scfm_error(SCFM_EFORMAT, "%s: line %zu: %s_token '%s' is not a non-negative integer", path, lineno, what,
                          field);
    if ((size_t)t >= scfm_vocab_size(v))
        return scfm_error(SCFM_EMISMATCH, "%s: line %zu: %s_token %ld is outside the vocabulary (%zu tokens)", path,
                          lineno, what, t, scfm_vocab_size(v));
    const char *tok = scfm_vocab_token(v, (size_t)t);
    if (strcmp(tok, id))
        return scfm_error(SCFM_EMISMATCH, "%s: line %zu: %s_token %ld is '%s' in the vocabulary, not %s (a homolog map "
                          "of another vocabulary?)", path, lineno, what, t, tok, id);
    if (scfm_gene_species(tok) != species)
        return scfm_error(SCFM_EMISMATCH, "%s: line %zu: %s_token %ld ('%s') is not a %s gene", path, lineno, what, t,
                          tok, what);
    *out = t;
    return SCFM_OK;
}

int scfm_homologs_load(const char *path, const scfm_vocab *v, int64_t **index_out) {
    *index_out = NULL;
    char *buf;
    size_t len, pos = 0, vs = scfm_vocab_size(v);
    int rc = scfm_gn_read_all(path, &buf, &len);
    if (rc) return rc;
    int64_t *idx = scfm_calloc(vs ? vs : 1, sizeof *idx);
    unsigned char *used = scfm_calloc(vs ? vs : 1, 1);
    if (!idx || !used) rc = SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < vs; i++) idx[i] = (int64_t)i;
    char *line = rc ? NULL : scfm_gn_next_line(buf, len, &pos);
    if (!rc && (!line || strcmp(line, HOMOLOGS_HEADER)))
        rc = scfm_error(SCFM_EFORMAT, "%s: line 1: header is not '%s' (not an scfm homolog map)", path,
                        "human_token<TAB>mouse_token<TAB>human_id<TAB>mouse_id");
    size_t lineno = 1;
    while (!rc && (line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (!line[0]) continue;
        char *f[5];
        size_t nf = scfm_gn_split(line, '\t', f, 5);
        if (nf != 4) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: %zu fields, expected 4", path, lineno, nf); break; }
        int64_t h, m;
        rc = homolog_token(path, lineno, f[0], f[2], 0, v, &h);
        if (!rc) rc = homolog_token(path, lineno, f[1], f[3], 1, v, &m);
        if (!rc && (used[h] || used[m]))
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: duplicate pair: %s %s (token %" PRId64 ") is already in an "
                            "earlier pair", path, lineno, used[h] ? "human gene" : "mouse gene", used[h] ? f[2] : f[3],
                            used[h] ? h : m);
        if (rc) break;
        used[h] = used[m] = 1;
        idx[h] = m;
    }
    free(buf);
    free(used);
    if (rc) { free(idx); return rc; }
    *index_out = idx;
    return SCFM_OK;
}

/* ---- vocab.json ----------------------------------------------------------------------- */
static char *dir_file(const char *vocab_path, const char *name) {
    const char *slash = strrchr(vocab_path, '/');
    size_t dl = slash ? (size_t)(slash - vocab_path) : 1;
    size_t n = dl + strlen(name) + 2;
    char *p = scfm_malloc(n);
    if (p) snprintf(p, n, "%.*s/%s", (int)dl, slash ? vocab_path : ".", name);
    return p;
}

static int parse_hex16(const char *s, uint64_t *out) {
    uint64_t h = 0;
    if (strlen(s) != 16) return -1;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        h = h << 4 | (uint64_t)d;
    }
    *out = h;
    return 0;
}

static int range_of(const scfm_json *r, const char *sp, const char *path, size_t *first, size_t *end) {
    const scfm_json *a = scfm_json_get(r, sp);
    if (!a || a->type != SCFM_JSON_ARRAY || a->n != 2 || !a->items[0].is_integer || !a->items[1].is_integer ||
        a->items[0].integer < 0 || a->items[1].integer < a->items[0].integer)
        return scfm_error(SCFM_EFORMAT, "%s: ranges.%s is not [first, end) token ids", path, sp);
    *first = (size_t)a->items[0].integer;
    *end = (size_t)a->items[1].integer;
    return SCFM_OK;
}

/* Checks vocab.json's facts against v: hash, size, <pad> 0 / <mask> 1, ranges tiling the
 * vocabulary with each species' genes. */
static int joint_check(const scfm_json *m, const char *path, const scfm_vocab *v, scfm_joint_vocab *j) {
    const char *fmt, *hash, *hfile, *hhash;
    long long ver;
    int joint = 0;
    size_t vs = scfm_vocab_size(v), size;
    uint64_t h;
    if (m->type != SCFM_JSON_OBJECT || scfm_json_get_string(m, "format", &fmt) || strcmp(fmt, "scfm-vocab"))
        return scfm_error(SCFM_EFORMAT, "%s: not an scfm vocabulary description (format \"scfm-vocab\")", path);
    if (scfm_json_get_long(m, "version", &ver) || ver != 1)
        return scfm_error(SCFM_EFORMAT, "%s: version is not 1", path);
    if (scfm_json_get_bool(m, "joint", &joint) || scfm_json_get_size(m, "vocab_size", &size) ||
        scfm_json_get_string(m, "vocab_hash", &hash) || scfm_json_get_size(m, "n_homologs", &j->n_homologs) ||
        scfm_json_get_string(m, "homologs_file", &hfile) || scfm_json_get_string(m, "homologs_fnv1a64", &hhash))
        return scfm_error_prefix(SCFM_EFORMAT, "%s", path);
    if (!joint) return scfm_error(SCFM_EFORMAT, "%s: \"joint\" is false (only joint vocabularies have vocab.json)", path);
    if (parse_hex16(hash, &h) || parse_hex16(hhash, &j->homologs_hash))
        return scfm_error(SCFM_EFORMAT, "%s: vocab_hash / homologs_fnv1a64 is not 16 hex digits", path);
    if (h != scfm_vocab_hash(v) || size != vs)
        return scfm_error(SCFM_EMISMATCH, "%s: describes vocabulary %s (%zu tokens) but vocab.tsv is %016llx (%zu tokens)",
                          path, hash, size, (unsigned long long)scfm_vocab_hash(v), vs);
    if (strcmp(hfile, "homologs.tsv")) return scfm_error(SCFM_EFORMAT, "%s: homologs_file is not homologs.tsv", path);
    const scfm_json *r = scfm_json_get(m, "ranges");
    if (!r || r->type != SCFM_JSON_OBJECT) return scfm_error(SCFM_EFORMAT, "%s: 'ranges' missing", path);
    int rc = range_of(r, "human", path, &j->first[0], &j->end[0]);
    if (!rc) rc = range_of(r, "mouse", path, &j->first[1], &j->end[1]);
    if (rc) return rc;
    if (vs < 2 || scfm_vocab_special(v, "<pad>") != 0 || scfm_vocab_special(v, "<mask>") != 1 || j->first[0] != 2 ||
        j->end[0] != j->first[1] || j->end[1] != vs)
        return scfm_error(SCFM_EFORMAT, "%s: ranges do not tile the vocabulary as <pad> 0, <mask> 1, human genes, "
                          "mouse genes", path);
    for (int s = 0; s < 2; s++)
        for (size_t t = j->first[s]; t < j->end[s]; t++) {
            const char *tok = scfm_vocab_token(v, t);
            if (scfm_gene_species(tok) != s)
                return scfm_error(SCFM_EFORMAT, "%s: token %zu '%s' lies in the %s range but is not a %s gene ID (or "
                                  "%sSYMBOL)", path, t, tok, s ? "mouse" : "human", s ? "mouse" : "human",
                                  s ? SCFM_SYMBOL_PREFIX_MOUSE : SCFM_SYMBOL_PREFIX_HUMAN);
            if (strchr(tok, ':')) j->symbols = 1;
        }
    return SCFM_OK;
}

int scfm_joint_vocab_load(const char *vocab_path, const scfm_vocab *v, scfm_joint_vocab *j) {
    memset(j, 0, sizeof *j);
    char *jp = dir_file(vocab_path, "vocab.json"), *text = NULL;
    if (!jp) return SCFM_ENOMEM;
    struct stat st;
    if (stat(jp, &st) != 0) { free(jp); return SCFM_OK; } /* a one-species vocabulary */
    size_t len, vs = scfm_vocab_size(v);
    scfm_json *m = NULL;
    int rc = scfm_read_file(jp, &text, &len);
    if (!rc && !(m = scfm_json_parse(text, len, jp))) rc = SCFM_EFORMAT;
    if (!rc) rc = joint_check(m, jp, v, j);
    if (!rc && !(j->homologs_path = dir_file(vocab_path, "homologs.tsv"))) rc = SCFM_ENOMEM;
    uint64_t hh = 0;
    if (!rc && (rc = scfm_file_fnv1a64(j->homologs_path, &hh)))
        rc = scfm_error_prefix(rc, "joint vocabulary %s: its homolog map is missing", jp);
    if (!rc && hh != j->homologs_hash)
        rc = scfm_error(SCFM_EMISMATCH, "%s: hash %016llx differs from %016llx recorded in %s (file changed?)",
                        j->homologs_path, (unsigned long long)hh, (unsigned long long)j->homologs_hash, jp);
    if (!rc) rc = scfm_homologs_load(j->homologs_path, v, &j->homologous_index);
    if (!rc && !(j->mouse_to_human = scfm_calloc(vs, sizeof *j->mouse_to_human))) rc = SCFM_ENOMEM;
    size_t pairs = 0;
    for (size_t t = 0; !rc && t < vs; t++) j->mouse_to_human[t] = -1;
    for (size_t t = 0; !rc && t < vs; t++)
        if (j->homologous_index[t] != (int64_t)t) {
            j->mouse_to_human[j->homologous_index[t]] = (int32_t)t;
            pairs++;
        }
    if (!rc && pairs != j->n_homologs)
        rc = scfm_error(SCFM_EMISMATCH, "%s: %zu pairs, but %s says n_homologs %zu", j->homologs_path, pairs, jp,
                        j->n_homologs);
    if (!rc) j->joint = 1;
    scfm_json_free(m);
    free(text);
    free(jp);
    if (rc) scfm_joint_vocab_free(j);
    return rc;
}

void scfm_joint_vocab_free(scfm_joint_vocab *j) {
    if (!j) return;
    free(j->homologs_path);
    free(j->homologous_index);
    free(j->mouse_to_human);
    memset(j, 0, sizeof *j);
}
