/* Corpus store: writer (DIR.tmp.<pid> -> DIR) and mmap reader. Layout in scfm/corpus.h. */
#include "scfm/corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "scfm corpus files are little-endian; big-endian hosts are not supported"
#endif

#define DEFAULT_SHARD_CELLS 65536

/* ---- small helpers ------------------------------------------------------------------ */
typedef struct { char *s; size_t len, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *ns = scfm_realloc(b->s, nc);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

#define SB_LIT(b, lit) sb_put((b), (lit), sizeof(lit) - 1)

static void sb_printf(sbuf *b, const char *fmt, ...) SCFM_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) { b->oom = 1; return; }
    sb_put(b, tmp, (size_t)n);
}

static void sb_str(sbuf *b, const char *s) {
    if (!b->oom && scfm_json_append_string(&b->s, &b->len, &b->cap, s ? s : "")) b->oom = 1;
}

/* Shortest of %.15g/%.16g/%.17g that reads back exactly; null for NaN/Inf. */
static void sb_double(sbuf *b, double v) {
    if (!isfinite(v)) { SB_LIT(b, "null"); return; }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    sb_put(b, tmp, strlen(tmp));
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = scfm_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}


static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* Byte layout of a shard; SCFM_EFORMAT on overflow. */
static int shard_layout(uint64_t n_cells, uint64_t n_tokens, int has_values, uint64_t *off_tok,
                        uint64_t *off_val, uint64_t *total) {
    if (n_cells > (UINT64_MAX >> 5) || n_tokens > (UINT64_MAX >> 5)) return -1;
    *off_tok = align64(SCFM_SHARD_HEADER + 8 * (n_cells + 1));
    uint64_t end = *off_tok + 4 * n_tokens;
    *off_val = has_values ? align64(end) : end;
    *total = has_values ? *off_val + 4 * n_tokens : end;
    return 0;
}


static int path_exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

/* ======================================================================================
 * Writer
 * ====================================================================================== */
typedef struct { uint64_t n_cells, n_tokens; uint32_t crc; } shard_rec;

struct scfm_corpus_writer {
    char *dir, *tmpdir, *mode, *species, *command;
    int force, has_values;
    size_t max_len, shard_cells, n_obs, vocab_size;
    char **obs_names;
    uint64_t vocab_hash;
    FILE *tok_f, *val_f, *obs_f;     /* current shard's token/value spill files; obs.tsv */
    uint64_t *offsets;               /* [shard_cells + 1] of the current shard */
    size_t shard_n;
    shard_rec *shards;
    size_t n_shards, cap_shards, n_cells, longest;
    uint64_t n_tokens;
    sbuf sources, settings;
    unsigned char *cell_species;     /* [n_cells]: 0 human, 1 mouse, 255 unknown */
    size_t cap_species;
    int cur_species;
    int joint;                       /* homolog map copied to tmpdir/homologs.tsv */
    uint64_t homologs_hash;
    size_t n_homolog_pairs;
};

static int species_code(const char *s) {
    return !s ? -1 : !strcmp(s, "human") ? 0 : !strcmp(s, "mouse") ? 1 : -1;
}

static char *spill_path(const scfm_corpus_writer *w, size_t shard, const char *ext) {
    char name[64];
    snprintf(name, sizeof name, "shard-%05zu.%s", shard, ext);
    return path_join(w->tmpdir, name);
}

static void sanitize_into(FILE *f, const char *s) {
    for (; s && *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static int writer_init_files(scfm_corpus_writer *w, const scfm_vocab *v) {
    if (mkdir(w->tmpdir, 0777) != 0)
        return scfm_error(SCFM_EIO, "%s: cannot create directory: %s", w->tmpdir, strerror(errno));
    char *vp = path_join(w->tmpdir, "vocab.tsv"), *op = path_join(w->tmpdir, "obs.tsv");
    int rc = (vp && op) ? SCFM_OK : SCFM_ENOMEM;
    if (!rc) rc = scfm_vocab_write_tsv(v, vp);
    if (!rc && !(w->obs_f = fopen(op, "wb"))) rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", op, strerror(errno));
    if (!rc) {
        fputs("cell_id", w->obs_f);
        for (size_t k = 0; k < w->n_obs; k++) { fputc('\t', w->obs_f); sanitize_into(w->obs_f, w->obs_names[k]); }
        fputc('\n', w->obs_f);
    }
    free(vp);
    free(op);
    return rc;
}

static int writer_check_opts(const scfm_corpus_writer_opts *o) {
    if (!o || !o->dir || !*o->dir || !o->vocab || !o->mode)
        return scfm_error(SCFM_EINVAL, "corpus writer: directory, vocabulary and mode are required");
    if (strcmp(o->mode, "v1") && strcmp(o->mode, "v2"))
        return scfm_error(SCFM_EINVAL, "%s: mode must be v1 or v2, not '%s'", o->dir, o->mode);
    if (o->max_len < 1 || o->max_len > (1u << 24))
        return scfm_error(SCFM_EINVAL, "%s: max_len %zu out of range", o->dir, o->max_len);
    if (path_exists(o->dir) && !o->force)
        return scfm_error(SCFM_EIO, "%s: already exists (use --force to replace it)", o->dir);
    return SCFM_OK;
}

static int writer_copy_strings(scfm_corpus_writer *w, const scfm_corpus_writer_opts *o) {
    size_t n = strlen(o->dir) + 48;
    w->dir = scfm_strdup(o->dir);
    w->tmpdir = scfm_malloc(n);
    w->mode = scfm_strdup(o->mode);
    w->species = scfm_strdup(o->species ? o->species : "");
    w->command = scfm_strdup(o->command ? o->command : "");
    w->obs_names = scfm_calloc(o->n_obs ? o->n_obs : 1, sizeof(char *));
    w->shards = scfm_calloc(16, sizeof(shard_rec));
    w->offsets = scfm_calloc(w->shard_cells + 1, sizeof(uint64_t));
    if (!w->dir || !w->tmpdir || !w->mode || !w->species || !w->command || !w->obs_names || !w->shards || !w->offsets)
        return SCFM_ENOMEM;
    w->cap_shards = 16;
    snprintf(w->tmpdir, n, "%s.tmp.%ld", o->dir, (long)getpid());
    for (size_t k = 0; k < o->n_obs; k++)
        if (!(w->obs_names[k] = scfm_strdup(o->obs_names[k] ? o->obs_names[k] : ""))) return SCFM_ENOMEM;
    w->n_obs = o->n_obs;
    return SCFM_OK;
}

static void writer_free(scfm_corpus_writer *w) {
    if (!w) return;
    if (w->tok_f) fclose(w->tok_f);
    if (w->val_f) fclose(w->val_f);
    if (w->obs_f) fclose(w->obs_f);
    for (size_t k = 0; w->obs_names && k < w->n_obs; k++) free(w->obs_names[k]);
    free(w->obs_names);
    free(w->dir); free(w->tmpdir); free(w->mode); free(w->species); free(w->command);
    free(w->offsets); free(w->shards);
    free(w->sources.s); free(w->settings.s);
    free(w->cell_species);
    free(w);
}

/* Copies the joint vocabulary's homolog map into the corpus and records its hash and size. */
static int writer_copy_homologs(scfm_corpus_writer *w, const char *src) {
    char *data = NULL, *dst = path_join(w->tmpdir, "homologs.tsv");
    size_t len = 0;
    int rc = dst ? scfm_read_file(src, &data, &len) : SCFM_ENOMEM;
    if (!rc) rc = scfm_write_file_atomic(dst, data, len);
    if (!rc) {
        uint64_t h = 14695981039346656037ULL;
        for (size_t i = 0; i < len; i++) {
            h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
            if (data[i] == '\n' && i + 1 < len && data[i + 1] != '\n') w->n_homolog_pairs++;
        }
        w->homologs_hash = h;
        w->joint = 1;
    }
    free(data);
    free(dst);
    return rc;
}

scfm_corpus_writer *scfm_corpus_writer_open(const scfm_corpus_writer_opts *o) {
    if (writer_check_opts(o)) return NULL;
    scfm_corpus_writer *w = scfm_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->force = o->force;
    w->has_values = o->has_values ? 1 : 0;
    w->max_len = o->max_len;
    w->shard_cells = o->shard_cells ? o->shard_cells : DEFAULT_SHARD_CELLS;
    w->vocab_size = scfm_vocab_size(o->vocab);
    w->vocab_hash = scfm_vocab_hash(o->vocab);
    if (w->shard_cells > ((size_t)1 << 26) || writer_copy_strings(w, o)) { writer_free(w); return NULL; }
    if (path_exists(w->tmpdir)) scfm_remove_tree(w->tmpdir); /* stale, same pid */
    w->cur_species = species_code(o->species);
    if (writer_init_files(w, o->vocab) || (o->homologs_path && writer_copy_homologs(w, o->homologs_path))) {
        scfm_remove_tree(w->tmpdir);
        writer_free(w);
        return NULL;
    }
    return w;
}

/* Streams `f` (rewound) into `out`, updating the CRC; pads to `pad_to` bytes written. */
static int copy_spill(FILE *f, FILE *out, uint32_t *crc, const char *what) {
    static _Thread_local char buf[1 << 20];
    size_t got;
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) return scfm_error(SCFM_EIO, "%s: spill file error", what);
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        *crc = scfm_crc32(*crc, buf, got);
        if (fwrite(buf, 1, got, out) != got) return scfm_error(SCFM_EIO, "%s: write failed: %s", what, strerror(errno));
    }
    if (ferror(f)) return scfm_error(SCFM_EIO, "%s: spill read failed", what);
    return SCFM_OK;
}

static int write_pad(FILE *out, uint64_t *pos, uint64_t to, uint32_t *crc) {
    static const unsigned char zeros[64];
    while (*pos < to) {
        size_t n = (size_t)(to - *pos > 64 ? 64 : to - *pos);
        *crc = scfm_crc32(*crc, zeros, n);
        if (fwrite(zeros, 1, n, out) != n) return -1;
        *pos += n;
    }
    return 0;
}

static int write_shard_body(scfm_corpus_writer *w, FILE *out, const char *path, uint32_t *crc) {
    uint64_t nc = w->shard_n, nt = w->offsets[w->shard_n], off_tok, off_val, total;
    unsigned char hdr[SCFM_SHARD_HEADER] = {0};
    uint32_t version = SCFM_CORPUS_VERSION, flags = (uint32_t)w->has_values;
    if (shard_layout(nc, nt, w->has_values, &off_tok, &off_val, &total))
        return scfm_error(SCFM_ENOMEM, "%s: shard too large", path);
    memcpy(hdr, SCFM_SHARD_MAGIC, 8);
    memcpy(hdr + 8, &version, 4);
    memcpy(hdr + 12, &flags, 4);
    memcpy(hdr + 16, &nc, 8);
    memcpy(hdr + 24, &nt, 8);
    if (fwrite(hdr, 1, sizeof hdr, out) != sizeof hdr) return scfm_error(SCFM_EIO, "%s: write failed", path);
    size_t ob = (size_t)(nc + 1) * 8;
    *crc = scfm_crc32(*crc, w->offsets, ob);
    uint64_t pos = SCFM_SHARD_HEADER + ob;
    if (fwrite(w->offsets, 1, ob, out) != ob || write_pad(out, &pos, off_tok, crc))
        return scfm_error(SCFM_EIO, "%s: write failed", path);
    int rc = copy_spill(w->tok_f, out, crc, path);
    pos += 4 * nt;
    if (!rc && w->has_values) {
        if (write_pad(out, &pos, off_val, crc)) return scfm_error(SCFM_EIO, "%s: write failed", path);
        rc = copy_spill(w->val_f, out, crc, path);
    }
    return rc;
}

/* Assembles shard-NNNNN.bin from the offsets and the spill files, removes the spills. */
static int writer_flush_shard(scfm_corpus_writer *w) {
    if (w->shard_n == 0) return SCFM_OK;
    size_t id = w->n_shards;
    char *path = spill_path(w, id, "bin");
    if (!path) return SCFM_ENOMEM;
    FILE *out = fopen(path, "wb");
    if (out) setvbuf(out, NULL, _IOFBF, 1 << 20);
    int rc = out ? SCFM_OK : scfm_error(SCFM_EIO, "%s: cannot create: %s", path, strerror(errno));
    uint32_t crc = 0;
    if (!rc) rc = write_shard_body(w, out, path, &crc);
    if (out) {
        int ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
        ok = (fclose(out) == 0) && ok;
        if (!rc && !ok) rc = scfm_error(SCFM_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    free(path);
    for (int k = 0; k < 2; k++) {
        FILE **f = k ? &w->val_f : &w->tok_f;
        if (*f) fclose(*f);
        *f = NULL;
        char *sp = spill_path(w, id, k ? "val.tmp" : "tok.tmp");
        if (sp) unlink(sp);
        free(sp);
    }
    if (rc) return rc;
    if (w->n_shards == w->cap_shards) {
        shard_rec *ns = scfm_realloc(w->shards, 2 * w->cap_shards * sizeof *ns);
        if (!ns) return SCFM_ENOMEM;
        w->shards = ns;
        w->cap_shards *= 2;
    }
    w->shards[w->n_shards++] = (shard_rec){w->shard_n, w->offsets[w->shard_n], crc};
    w->shard_n = 0;
    return SCFM_OK;
}

static int writer_open_spills(scfm_corpus_writer *w) {
    for (int k = 0; k < 1 + w->has_values; k++) {
        char *sp = spill_path(w, w->n_shards, k ? "val.tmp" : "tok.tmp");
        if (!sp) return SCFM_ENOMEM;
        FILE *f = fopen(sp, "w+b");
        if (f) setvbuf(f, NULL, _IOFBF, 1 << 20);
        int rc = f ? SCFM_OK : scfm_error(SCFM_EIO, "%s: cannot create: %s", sp, strerror(errno));
        free(sp);
        if (rc) return rc;
        *(k ? &w->val_f : &w->tok_f) = f;
    }
    w->offsets[0] = 0;
    return SCFM_OK;
}

static int writer_check_cell(const scfm_corpus_writer *w, const int32_t *tokens, const float *values, size_t len) {
    if (len < 1 || len > w->max_len)
        return scfm_error(SCFM_EINVAL, "%s: cell %zu has %zu tokens (allowed 1..%zu)", w->dir, w->n_cells, len, w->max_len);
    if (w->has_values && !values)
        return scfm_error(SCFM_EINVAL, "%s: cell %zu: values missing", w->dir, w->n_cells);
    for (size_t i = 0; i < len; i++) {
        if (tokens[i] < 0 || (size_t)tokens[i] >= w->vocab_size)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu: token id %d outside the vocabulary (size %zu)", w->dir,
                              w->n_cells, (int)tokens[i], w->vocab_size);
        if (w->has_values && !isfinite(values[i]))
            return scfm_error(SCFM_EINVAL, "%s: cell %zu: value %zu is not finite", w->dir, w->n_cells, i);
    }
    return SCFM_OK;
}

int scfm_corpus_writer_add(scfm_corpus_writer *w, const int32_t *tokens, const float *values, size_t len,
                           const char *cell_id, const char *const *obs) {
    int rc = writer_check_cell(w, tokens, values, len);
    if (rc) return rc;
    if (w->shard_n == w->shard_cells && (rc = writer_flush_shard(w))) return rc;
    if (w->shard_n == 0 && (rc = writer_open_spills(w))) return rc;
    if (fwrite(tokens, sizeof *tokens, len, w->tok_f) != len ||
        (w->has_values && fwrite(values, sizeof *values, len, w->val_f) != len))
        return scfm_error(SCFM_EIO, "%s: write failed: %s", w->tmpdir, strerror(errno));
    w->offsets[w->shard_n + 1] = w->offsets[w->shard_n] + len;
    w->shard_n++;
    sanitize_into(w->obs_f, cell_id);
    for (size_t k = 0; k < w->n_obs; k++) {
        fputc('\t', w->obs_f);
        sanitize_into(w->obs_f, obs ? obs[k] : NULL);
    }
    if (fputc('\n', w->obs_f) == EOF) return scfm_error(SCFM_EIO, "%s/obs.tsv: write failed", w->tmpdir);
    if (w->n_cells == w->cap_species) {
        size_t nc = w->cap_species ? 2 * w->cap_species : 4096;
        unsigned char *ns = scfm_realloc(w->cell_species, nc);
        if (!ns) return SCFM_ENOMEM;
        w->cell_species = ns;
        w->cap_species = nc;
    }
    w->cell_species[w->n_cells] = w->cur_species < 0 ? 255 : (unsigned char)w->cur_species;
    w->n_cells++;
    w->n_tokens += len;
    if (len > w->longest) w->longest = len;
    return SCFM_OK;
}

int scfm_corpus_writer_add_source(scfm_corpus_writer *w, const scfm_corpus_source *s) {
    sbuf *b = &w->sources;
    if (b->len) SB_LIT(b, ",\n");
    SB_LIT(b, "    {");
    SB_LIT(b, "\"path\": "); sb_str(b, s->path);
    SB_LIT(b, ", \"format\": "); sb_str(b, s->format);
    sb_printf(b, ", \"n_cells_in\": %zu, \"n_cells_kept\": %zu, \"genes_in\": %zu, \"genes_in_vocab\": %zu, "
                 "\"count_share_in_vocab\": ", s->n_cells_in, s->n_cells_kept, s->genes_in, s->genes_in_vocab);
    sb_double(b, s->count_share_in_vocab);
    SB_LIT(b, "}");
    return b->oom ? scfm_error(SCFM_ENOMEM, "out of memory") : SCFM_OK;
}

int scfm_corpus_writer_setting(scfm_corpus_writer *w, const char *key, const char *json) {
    scfm_json *j = scfm_json_parse(json, strlen(json), key);
    if (!j) return scfm_error_prefix(SCFM_EINVAL, "corpus setting");
    scfm_json_free(j);
    sbuf *b = &w->settings;
    if (b->len) SB_LIT(b, ", ");
    sb_str(b, key);
    SB_LIT(b, ": ");
    sb_put(b, json, strlen(json));
    return b->oom ? scfm_error(SCFM_ENOMEM, "out of memory") : SCFM_OK;
}

int scfm_corpus_writer_setting_str(scfm_corpus_writer *w, const char *key, const char *value) {
    sbuf t = {0};
    sb_str(&t, value);
    int rc = t.oom ? scfm_error(SCFM_ENOMEM, "out of memory") : scfm_corpus_writer_setting(w, key, t.s);
    free(t.s);
    return rc;
}

size_t scfm_corpus_writer_n_cells(const scfm_corpus_writer *w) { return w->n_cells; }

int scfm_corpus_writer_set_species(scfm_corpus_writer *w, int species) {
    if (species < -1 || species > 1) return scfm_error(SCFM_EINVAL, "%s: species %d is not 0 (human), 1 (mouse) or -1", w->dir, species);
    w->cur_species = species;
    return SCFM_OK;
}

/* Cells per species code (0, 1, unknown). */
static void species_counts(const scfm_corpus_writer *w, size_t n[3]) {
    n[0] = n[1] = n[2] = 0;
    for (size_t i = 0; i < w->n_cells; i++) n[w->cell_species[i] < 2 ? w->cell_species[i] : 2]++;
}

static void json_head(const scfm_corpus_writer *w, sbuf *b) {
    char created[64];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    sb_printf(b, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"scfm_version\": \"%s\",\n  \"command\": ",
              SCFM_CORPUS_FORMAT, SCFM_CORPUS_VERSION, SCFM_VERSION);
    sb_str(b, w->command);
    sb_printf(b, ",\n  \"created\": \"%s\",\n  \"vocab_hash\": \"%016llx\",\n  \"vocab_size\": %zu,\n  \"mode\": ",
              created, (unsigned long long)w->vocab_hash, w->vocab_size);
    sb_str(b, w->mode);
    sb_printf(b, ",\n  \"max_len\": %zu,\n  \"has_values\": %s,\n  \"species\": ", w->max_len,
              w->has_values ? "true" : "false");
    size_t ns[3];
    species_counts(w, ns);
    sb_str(b, ns[2] ? "" : ns[0] && ns[1] ? "mixed" : ns[0] ? "human" : "mouse");
    SB_LIT(b, ",\n  \"settings\": {");
    if (w->settings.s) sb_put(b, w->settings.s, w->settings.len);
    SB_LIT(b, "},\n  \"obs_columns\": [");
    for (size_t k = 0; k < w->n_obs; k++) {
        if (k) SB_LIT(b, ", ");
        sb_str(b, w->obs_names[k]);
    }
}

static int write_corpus_json(const scfm_corpus_writer *w) {
    sbuf b = {0};
    json_head(w, &b);
    SB_LIT(&b, "],\n  \"sources\": [\n");
    if (w->sources.s) sb_put(&b, w->sources.s, w->sources.len);
    size_t ns[3];
    species_counts(w, ns);
    sb_printf(&b, "\n  ],\n  \"cell_species\": {\"file\": \"species.u8\", \"crc32\": %lu, \"human\": %zu, \"mouse\": %zu, "
              "\"unknown\": %zu},\n", (unsigned long)scfm_crc32(0, w->cell_species, w->n_cells), ns[0], ns[1], ns[2]);
    if (w->joint)
        sb_printf(&b, "  \"joint\": true,\n  \"homologs\": {\"file\": \"homologs.tsv\", \"fnv1a64\": \"%016llx\", "
                  "\"n_pairs\": %zu},\n", (unsigned long long)w->homologs_hash, w->n_homolog_pairs);
    sb_printf(&b, "  \"n_cells\": %zu,\n  \"n_tokens\": %llu,\n  \"longest\": %zu,\n  \"shards\": [\n",
              w->n_cells, (unsigned long long)w->n_tokens, w->longest);
    for (size_t s = 0; s < w->n_shards; s++)
        sb_printf(&b, "    {\"file\": \"shard-%05zu.bin\", \"n_cells\": %llu, \"n_tokens\": %llu, \"crc32\": %lu}%s\n", s,
                  (unsigned long long)w->shards[s].n_cells, (unsigned long long)w->shards[s].n_tokens,
                  (unsigned long)w->shards[s].crc, s + 1 < w->n_shards ? "," : "");
    SB_LIT(&b, "  ]\n}\n");
    if (b.oom) { free(b.s); return scfm_error(SCFM_ENOMEM, "out of memory"); }
    char *p = path_join(w->tmpdir, "corpus.json");
    int rc = p ? scfm_write_file_atomic(p, b.s, b.len) : SCFM_ENOMEM;
    free(p);
    free(b.s);
    return rc;
}

/* Moves tmpdir to dir; with force an existing corpus (or empty directory) is replaced. */
static int writer_publish(scfm_corpus_writer *w) {
    if (path_exists(w->dir)) {
        if (!w->force) return scfm_error(SCFM_EIO, "%s: already exists (use --force to replace it)", w->dir);
        char *cj = path_join(w->dir, "corpus.json");
        int is_corpus = cj && path_exists(cj);
        free(cj);
        if (!is_corpus && rmdir(w->dir) != 0)
            return scfm_error(SCFM_EIO, "%s: exists and is not a corpus directory; not replacing it", w->dir);
    }
    return scfm_install_dir(w->tmpdir, w->dir);
}

int scfm_corpus_writer_finish(scfm_corpus_writer *w) {
    int rc = SCFM_OK;
    if (w->n_cells == 0) rc = scfm_error(SCFM_EINVAL, "%s: no cells to write (every cell was empty or filtered)", w->dir);
    if (!rc) rc = writer_flush_shard(w);
    if (!rc) {
        int ok = fflush(w->obs_f) == 0 && fsync(fileno(w->obs_f)) == 0;
        ok = (fclose(w->obs_f) == 0) && ok;
        w->obs_f = NULL;
        if (!ok) rc = scfm_error(SCFM_EIO, "%s/obs.tsv: write failed: %s", w->tmpdir, strerror(errno));
    }
    if (!rc) {
        char *sp = path_join(w->tmpdir, "species.u8");
        rc = sp ? scfm_write_file_atomic(sp, w->cell_species, w->n_cells) : SCFM_ENOMEM;
        free(sp);
    }
    if (!rc) rc = write_corpus_json(w);
    if (!rc) rc = writer_publish(w);
    if (rc) {
        if (w->tok_f) { fclose(w->tok_f); w->tok_f = NULL; }
        if (w->val_f) { fclose(w->val_f); w->val_f = NULL; }
        if (w->obs_f) { fclose(w->obs_f); w->obs_f = NULL; }
        scfm_remove_tree(w->tmpdir);
    }
    writer_free(w);
    return rc;
}

void scfm_corpus_writer_abort(scfm_corpus_writer *w) {
    if (!w) return;
    if (w->tok_f) { fclose(w->tok_f); w->tok_f = NULL; }
    if (w->val_f) { fclose(w->val_f); w->val_f = NULL; }
    if (w->obs_f) { fclose(w->obs_f); w->obs_f = NULL; }
    scfm_remove_tree(w->tmpdir);
    writer_free(w);
}

/* ======================================================================================
 * Reader
 * ====================================================================================== */
typedef struct {
    void *map;
    size_t map_len, n_cells, first;
    uint64_t n_tokens;
    const uint64_t *off;
    const int32_t *tok;
    const float *val;
} shard_map;

struct scfm_corpus {
    char *dir, *mode, *species;
    scfm_json *meta;
    uint64_t vocab_hash, n_tokens;
    size_t vocab_size, max_len, longest, n_cells, n_shards, n_obs;
    int has_values;
    shard_map *shards;
    char *obs_buf;          /* obs.tsv with separators turned into NULs */
    char **rows;            /* [n_cells] start of each row: cell_id\0col0\0col1... */
    char **obs_names;       /* point into obs_buf */
    unsigned char *cell_species; /* [n_cells] 0 human, 1 mouse, 255 unknown */
    size_t n_species[3];
    int joint;
    char *homologs_path;
    uint64_t homologs_hash;
};

size_t scfm_corpus_n_cells(const scfm_corpus *c) { return c->n_cells; }
uint64_t scfm_corpus_n_tokens(const scfm_corpus *c) { return c->n_tokens; }
const char *scfm_corpus_dir(const scfm_corpus *c) { return c->dir; }
const char *scfm_corpus_mode(const scfm_corpus *c) { return c->mode; }
size_t scfm_corpus_max_len(const scfm_corpus *c) { return c->max_len; }
size_t scfm_corpus_longest(const scfm_corpus *c) { return c->longest; }
int scfm_corpus_has_values(const scfm_corpus *c) { return c->has_values; }
const char *scfm_corpus_species(const scfm_corpus *c) { return c->species; }
uint64_t scfm_corpus_vocab_hash(const scfm_corpus *c) { return c->vocab_hash; }
size_t scfm_corpus_vocab_size(const scfm_corpus *c) { return c->vocab_size; }
const scfm_json *scfm_corpus_meta(const scfm_corpus *c) { return c->meta; }
size_t scfm_corpus_n_shards(const scfm_corpus *c) { return c->n_shards; }
size_t scfm_corpus_n_obs(const scfm_corpus *c) { return c->n_obs; }

size_t scfm_corpus_shard_first_cell(const scfm_corpus *c, size_t s) {
    return s < c->n_shards ? c->shards[s].first : c->n_cells;
}
size_t scfm_corpus_shard_n_cells(const scfm_corpus *c, size_t s) {
    return s < c->n_shards ? c->shards[s].n_cells : 0;
}

void scfm_corpus_close(scfm_corpus *c) {
    if (!c) return;
    for (size_t s = 0; c->shards && s < c->n_shards; s++)
        if (c->shards[s].map) munmap(c->shards[s].map, c->shards[s].map_len);
    free(c->shards);
    scfm_json_free(c->meta);
    free(c->dir); free(c->mode); free(c->species);
    free(c->obs_buf); free(c->rows); free(c->obs_names);
    free(c->cell_species); free(c->homologs_path);
    free(c);
}

int scfm_corpus_cell_species(const scfm_corpus *c, size_t i) {
    if (!c || i >= c->n_cells) return -1;
    return c->cell_species[i] < 2 ? c->cell_species[i] : -1;
}

size_t scfm_corpus_n_species_cells(const scfm_corpus *c, int s) {
    return s == 0 || s == 1 ? c->n_species[s] : c->n_species[2];
}

int scfm_corpus_require_species(const scfm_corpus *c, const size_t *cells, size_t n) {
    if (c->n_species[2] == 0) return SCFM_OK;
    for (size_t k = 0; k < n; k++) {
        size_t i = cells ? cells[k] : k;
        if (i < c->n_cells && c->cell_species[i] >= 2)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu has no species (human or mouse), which a GeneCompass model "
                              "needs; tokenize with --species", c->dir, i);
    }
    return SCFM_OK;
}

int scfm_corpus_is_joint(const scfm_corpus *c) { return c->joint; }
const char *scfm_corpus_homologs_path(const scfm_corpus *c) { return c->joint ? c->homologs_path : NULL; }
uint64_t scfm_corpus_homologs_hash(const scfm_corpus *c) { return c->joint ? c->homologs_hash : 0; }

int scfm_corpus_load_homologs(const scfm_corpus *c, const scfm_vocab *v, int64_t **index_out) {
    *index_out = NULL;
    if (!c->joint)
        return scfm_error(SCFM_EINVAL, "%s: the corpus was not tokenized against a joint (human+mouse) vocabulary, so it "
                          "has no homolog map; tokenize with a vocabulary from 'scfm vocab build --human ... --mouse ...'",
                          c->dir);
    int rc = scfm_corpus_check_vocab(c, v);
    if (!rc) rc = scfm_homologs_load(c->homologs_path, v, index_out);
    return rc;
}

int scfm_corpus_check_species(const scfm_corpus *c, const scfm_vocab *v) {
    static const char *const name[2] = {"human", "mouse"};
    unsigned mask = scfm_vocab_species_mask(v);
    for (int s = 0; s < 2; s++)
        if (c->n_species[s] && !(mask & (1u << s)))
            return scfm_error(SCFM_EMISMATCH, "%s: %zu %s cells, but the vocabulary (%016llx, %zu tokens) holds no %s genes: "
                              "a model that reads the species of each cell needs a joint vocabulary (scfm vocab build "
                              "--human ... --mouse ...) and corpora tokenized with it", c->dir, c->n_species[s], name[s],
                              (unsigned long long)scfm_vocab_hash(v), scfm_vocab_size(v), name[s]);
    if (c->n_species[1] && mask == 3u && !c->joint)
        return scfm_error(SCFM_EMISMATCH, "%s: mouse cells for a joint vocabulary, but the corpus has no homolog map "
                          "(not tokenized with 'scfm tokenize --species mouse' against the joint vocabulary)", c->dir);
    return SCFM_OK;
}

static int parse_hash(const char *s, uint64_t *out);

/* ---- open: per-cell species and the homolog map ----------------------------------------- */
static int load_species(scfm_corpus *c, const char *jpath) {
    if (!(c->cell_species = scfm_malloc(c->n_cells ? c->n_cells : 1))) return SCFM_ENOMEM;
    const scfm_json *cs = scfm_json_get(c->meta, "cell_species");
    int rc = SCFM_OK;
    if (!cs) { /* written before per-cell species existed: every cell has the corpus's species */
        int s = !strcmp(c->species, "human") ? 0 : !strcmp(c->species, "mouse") ? 1 : 255;
        memset(c->cell_species, s, c->n_cells);
    } else {
        const char *file;
        long long crc;
        if (cs->type != SCFM_JSON_OBJECT || scfm_json_get_string(cs, "file", &file) || scfm_json_get_long(cs, "crc32", &crc))
            return scfm_error_prefix(SCFM_EFORMAT, "%s: cell_species", jpath);
        if (strcmp(file, "species.u8")) return scfm_error(SCFM_EFORMAT, "%s: cell_species.file is not species.u8", jpath);
        char *p = path_join(c->dir, "species.u8"), *data = NULL;
        size_t len = 0;
        rc = p ? scfm_read_file(p, &data, &len) : SCFM_ENOMEM;
        if (!rc && len != c->n_cells)
            rc = scfm_error(SCFM_EFORMAT, "%s: %zu bytes, expected one per cell (%zu)", p, len, c->n_cells);
        if (!rc && scfm_crc32(0, data, len) != (uint32_t)crc) rc = scfm_error(SCFM_EFORMAT, "%s: CRC-32 mismatch (file corrupt)", p);
        for (size_t i = 0; !rc && i < len; i++)
            if ((unsigned char)data[i] > 1 && (unsigned char)data[i] != 255)
                rc = scfm_error(SCFM_EFORMAT, "%s: cell %zu has species code %u (0, 1 or 255 expected)", p, i,
                                (unsigned)(unsigned char)data[i]);
        if (!rc) memcpy(c->cell_species, data, len);
        free(data);
        free(p);
    }
    for (size_t i = 0; !rc && i < c->n_cells; i++) c->n_species[c->cell_species[i] < 2 ? c->cell_species[i] : 2]++;
    return rc;
}

static int load_joint(scfm_corpus *c, const char *jpath) {
    const scfm_json *j = scfm_json_get(c->meta, "joint");
    if (!j) return SCFM_OK;
    if (j->type != SCFM_JSON_BOOL) return scfm_error(SCFM_EFORMAT, "%s: 'joint' is not a boolean", jpath);
    if (!j->boolean) return SCFM_OK;
    const scfm_json *h = scfm_json_get(c->meta, "homologs");
    const char *file, *hash;
    if (!h || h->type != SCFM_JSON_OBJECT || scfm_json_get_string(h, "file", &file) ||
        scfm_json_get_string(h, "fnv1a64", &hash) || strcmp(file, "homologs.tsv") || parse_hash(hash, &c->homologs_hash))
        return scfm_error(SCFM_EFORMAT, "%s: a joint corpus needs \"homologs\": {\"file\": \"homologs.tsv\", \"fnv1a64\": "
                          "\"<16 hex>\"}", jpath);
    if (!(c->homologs_path = path_join(c->dir, "homologs.tsv"))) return SCFM_ENOMEM;
    char *data = NULL;
    size_t len = 0;
    if (!path_exists(c->homologs_path))
        return scfm_error(SCFM_EIO, "%s: joint corpus without its homolog map (homologs.tsv is missing)", c->dir);
    int rc = scfm_read_file(c->homologs_path, &data, &len);
    uint64_t x = 14695981039346656037ULL;
    for (size_t i = 0; !rc && i < len; i++) x = (x ^ (unsigned char)data[i]) * 1099511628211ULL;
    free(data);
    if (!rc && x != c->homologs_hash)
        rc = scfm_error(SCFM_EFORMAT, "%s: hash %016llx differs from %016llx recorded in corpus.json (file changed)",
                        c->homologs_path, (unsigned long long)x, (unsigned long long)c->homologs_hash);
    if (!rc) c->joint = 1;
    return rc;
}

static const shard_map *find_shard(const scfm_corpus *c, size_t i, size_t *local) {
    size_t lo = 0, hi = c->n_shards;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->shards[mid].first <= i) lo = mid;
        else hi = mid;
    }
    *local = i - c->shards[lo].first;
    return &c->shards[lo];
}

int scfm_corpus_cell(const scfm_corpus *c, size_t i, const int32_t **tokens, size_t *len, const float **values) {
    if (i >= c->n_cells) return scfm_error(SCFM_EINVAL, "%s: cell %zu out of range (%zu cells)", c->dir, i, c->n_cells);
    size_t k;
    const shard_map *s = find_shard(c, i, &k);
    *tokens = s->tok + s->off[k];
    *len = (size_t)(s->off[k + 1] - s->off[k]);
    if (values) *values = s->val ? s->val + s->off[k] : NULL;
    return SCFM_OK;
}

size_t scfm_corpus_len(const scfm_corpus *c, size_t i) {
    if (i >= c->n_cells) return 0;
    size_t k;
    const shard_map *s = find_shard(c, i, &k);
    return (size_t)(s->off[k + 1] - s->off[k]);
}

const char *scfm_corpus_obs_name(const scfm_corpus *c, size_t col) {
    return col < c->n_obs ? c->obs_names[col] : NULL;
}

long scfm_corpus_obs_index(const scfm_corpus *c, const char *name) {
    for (size_t k = 0; k < c->n_obs; k++)
        if (!strcmp(c->obs_names[k], name)) return (long)k;
    return -1;
}

const char *scfm_corpus_cell_id(const scfm_corpus *c, size_t i) { return i < c->n_cells ? c->rows[i] : NULL; }

const char *scfm_corpus_obs(const scfm_corpus *c, size_t i, size_t col) {
    if (i >= c->n_cells || col >= c->n_obs) return NULL;
    const char *p = c->rows[i];
    for (size_t k = 0; k <= col; k++) p += strlen(p) + 1;
    return p;
}

int scfm_corpus_check_vocab(const scfm_corpus *c, const scfm_vocab *v) {
    uint64_t h = scfm_vocab_hash(v);
    size_t n = scfm_vocab_size(v);
    if (h == c->vocab_hash && n == c->vocab_size) return SCFM_OK;
    return scfm_error(SCFM_EMISMATCH,
                      "%s: the corpus was tokenized with vocabulary %016llx (%zu tokens) but the given vocabulary is "
                      "%016llx (%zu tokens); re-tokenize with the matching vocabulary (V1 vs V2?)",
                      c->dir, (unsigned long long)c->vocab_hash, c->vocab_size, (unsigned long long)h, n);
}

scfm_vocab *scfm_corpus_load_vocab(const scfm_corpus *c) {
    char *p = path_join(c->dir, "vocab.tsv");
    if (!p) return NULL;
    scfm_vocab *v = scfm_vocab_load(p);
    free(p);
    if (v && scfm_corpus_check_vocab(c, v)) { scfm_vocab_free(v); return NULL; }
    return v;
}

/* ---- open: corpus.json ---------------------------------------------------------------- */
static int meta_fail(const char *path) { return scfm_error_prefix(SCFM_EFORMAT, "%s", path); }

static int parse_hash(const char *s, uint64_t *out) {
    if (strlen(s) != 16) return -1;
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) return -1;
        h = (h << 4) | (uint64_t)d;
    }
    *out = h;
    return 0;
}

static int meta_header(scfm_corpus *c, const char *path) {
    const scfm_json *m = c->meta;
    const char *fmt, *hash, *mode, *species = "";
    long long ver;
    if (m->type != SCFM_JSON_OBJECT) return scfm_error(SCFM_EFORMAT, "%s: not a JSON object", path);
    if (scfm_json_dup_key(m)) return scfm_error(SCFM_EFORMAT, "%s: duplicate key '%s'", path, scfm_json_dup_key(m));
    if (scfm_json_get_string(m, "format", &fmt) || strcmp(fmt, SCFM_CORPUS_FORMAT))
        return scfm_error(SCFM_EFORMAT, "%s: not an scfm corpus (format is not \"%s\")", path, SCFM_CORPUS_FORMAT);
    if (scfm_json_get_long(m, "version", &ver)) return meta_fail(path);
    if (ver != SCFM_CORPUS_VERSION)
        return scfm_error(SCFM_EFORMAT, "%s: corpus format version %lld is not supported (this scfm reads %d)", path,
                          ver, SCFM_CORPUS_VERSION);
    if (scfm_json_get_string(m, "vocab_hash", &hash) || scfm_json_get_size(m, "vocab_size", &c->vocab_size) ||
        scfm_json_get_string(m, "mode", &mode) || scfm_json_get_size(m, "max_len", &c->max_len) ||
        scfm_json_get_bool(m, "has_values", &c->has_values) || scfm_json_get_size(m, "n_cells", &c->n_cells))
        return meta_fail(path);
    long long nt;
    if (scfm_json_get_long(m, "n_tokens", &nt) || nt < 0) return meta_fail(path);
    c->n_tokens = (uint64_t)nt;
    if (parse_hash(hash, &c->vocab_hash)) return scfm_error(SCFM_EFORMAT, "%s: vocab_hash is not 16 hex digits", path);
    if (strcmp(mode, "v1") && strcmp(mode, "v2")) return scfm_error(SCFM_EFORMAT, "%s: unknown mode '%s'", path, mode);
    if (c->max_len < 1 || c->max_len > (1u << 24) || c->vocab_size < 1 || c->vocab_size > INT32_MAX)
        return scfm_error(SCFM_EFORMAT, "%s: max_len or vocab_size out of range", path);
    const scfm_json *sp = scfm_json_get(m, "species");
    if (sp && sp->type == SCFM_JSON_STRING) species = sp->string;
    c->mode = scfm_strdup(mode);
    c->species = scfm_strdup(species);
    return c->mode && c->species ? SCFM_OK : SCFM_ENOMEM;
}

static int meta_shard_entry(const scfm_json *e, const char *path, size_t s, uint64_t *nc, uint64_t *nt,
                            uint32_t *crc) {
    const char *file;
    long long a, b, k;
    char want[64];
    snprintf(want, sizeof want, "shard-%05zu.bin", s);
    if (e->type != SCFM_JSON_OBJECT || scfm_json_get_string(e, "file", &file) || scfm_json_get_long(e, "n_cells", &a) ||
        scfm_json_get_long(e, "n_tokens", &b) || scfm_json_get_long(e, "crc32", &k))
        return scfm_error_prefix(SCFM_EFORMAT, "%s: shards[%zu]", path, s);
    if (strcmp(file, want) || a < 0 || b < 0 || k < 0 || k > 0xffffffffLL)
        return scfm_error(SCFM_EFORMAT, "%s: shards[%zu] is invalid (expected file %s)", path, s, want);
    *nc = (uint64_t)a;
    *nt = (uint64_t)b;
    *crc = (uint32_t)k;
    return SCFM_OK;
}

/* ---- open: shards ----------------------------------------------------------------------- */
static int shard_validate(const scfm_corpus *c, const shard_map *s, const char *path) {
    const uint64_t *off = s->off;
    if (off[0] != 0) return scfm_error(SCFM_EFORMAT, "%s: offsets[0] is not 0", path);
    for (size_t i = 0; i < s->n_cells; i++) {
        if (off[i + 1] < off[i] || off[i + 1] - off[i] > c->max_len)
            return scfm_error(SCFM_EFORMAT, "%s: cell %zu has a bad offset or is longer than max_len %zu", path, i,
                              c->max_len);
    }
    if (off[s->n_cells] != s->n_tokens) return scfm_error(SCFM_EFORMAT, "%s: last offset is not n_tokens", path);
    for (uint64_t t = 0; t < s->n_tokens; t++)
        if (s->tok[t] < 0 || (uint64_t)s->tok[t] >= c->vocab_size)
            return scfm_error(SCFM_EFORMAT, "%s: token %llu has id %d outside the vocabulary (size %zu)", path,
                              (unsigned long long)t, (int)s->tok[t], c->vocab_size);
    for (uint64_t t = 0; s->val && t < s->n_tokens; t++)
        if (!isfinite(s->val[t])) return scfm_error(SCFM_EFORMAT, "%s: value %llu is not finite", path, (unsigned long long)t);
    return SCFM_OK;
}

static int shard_check_header(const scfm_corpus *c, const unsigned char *p, size_t size, const char *path,
                              uint64_t nc, uint64_t nt, uint64_t *off_tok, uint64_t *off_val) {
    uint32_t ver, flags;
    uint64_t hc, ht, total = 0;
    if (size < SCFM_SHARD_HEADER) return scfm_error(SCFM_EFORMAT, "%s: truncated (%zu bytes)", path, size);
    if (memcmp(p, SCFM_SHARD_MAGIC, 8)) return scfm_error(SCFM_EFORMAT, "%s: bad magic (not an scfm shard)", path);
    memcpy(&ver, p + 8, 4); memcpy(&flags, p + 12, 4); memcpy(&hc, p + 16, 8); memcpy(&ht, p + 24, 8);
    if (ver != SCFM_CORPUS_VERSION) return scfm_error(SCFM_EFORMAT, "%s: shard version %u not supported", path, ver);
    if (flags != (uint32_t)c->has_values)
        return scfm_error(SCFM_EFORMAT, "%s: flags %u disagree with corpus.json has_values", path, flags);
    for (int i = 32; i < SCFM_SHARD_HEADER; i++)
        if (p[i]) return scfm_error(SCFM_EFORMAT, "%s: header padding is not zero", path);
    if (hc != nc || ht != nt)
        return scfm_error(SCFM_EFORMAT, "%s: header counts (%llu cells, %llu tokens) disagree with corpus.json", path,
                          (unsigned long long)hc, (unsigned long long)ht);
    if (shard_layout(nc, nt, c->has_values, off_tok, off_val, &total) || total != (uint64_t)size)
        return scfm_error(SCFM_EFORMAT, "%s: size %zu bytes, expected %llu (truncated or corrupt)", path, size,
                          (unsigned long long)total);
    return SCFM_OK;
}

static uint32_t crc_of(const unsigned char *p, size_t n) {
    return scfm_crc32(0, p, n);
}

static int shard_open(scfm_corpus *c, shard_map *s, const char *path, uint64_t nc, uint64_t nt, uint32_t crc) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return scfm_error(SCFM_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0) { close(fd); return scfm_error(SCFM_EIO, "%s: cannot stat", path); }
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (size < SCFM_SHARD_HEADER || map == MAP_FAILED) {
        if (map != MAP_FAILED) munmap(map, size);
        return scfm_error(size < SCFM_SHARD_HEADER ? SCFM_EFORMAT : SCFM_EIO, "%s: %s", path,
                          size < SCFM_SHARD_HEADER ? "truncated (shorter than the header)" : "cannot map");
    }
    s->map = map;
    s->map_len = size;
    const unsigned char *p = map;
    uint64_t off_tok = 0, off_val = 0;
    int rc = shard_check_header(c, p, size, path, nc, nt, &off_tok, &off_val);
    if (rc) return rc;
    if (crc_of(p + SCFM_SHARD_HEADER, size - SCFM_SHARD_HEADER) != crc)
        return scfm_error(SCFM_EFORMAT, "%s: CRC-32 mismatch (file corrupt)", path);
    s->n_cells = (size_t)nc;
    s->n_tokens = nt;
    s->off = (const uint64_t *)(p + SCFM_SHARD_HEADER);
    s->tok = (const int32_t *)(p + off_tok);
    s->val = c->has_values ? (const float *)(p + off_val) : NULL;
    return shard_validate(c, s, path);
}

static int open_shards(scfm_corpus *c, const char *jpath) {
    const scfm_json *arr = scfm_json_get(c->meta, "shards");
    if (!arr || arr->type != SCFM_JSON_ARRAY || arr->n == 0)
        return scfm_error(SCFM_EFORMAT, "%s: 'shards' missing or empty", jpath);
    if (!(c->shards = scfm_calloc(arr->n, sizeof *c->shards))) return SCFM_ENOMEM;
    c->n_shards = arr->n;
    uint64_t cells = 0, toks = 0;
    for (size_t s = 0; s < arr->n; s++) {
        uint64_t nc = 0, nt = 0;
        uint32_t crc = 0;
        int rc = meta_shard_entry(&arr->items[s], jpath, s, &nc, &nt, &crc);
        if (rc) return rc;
        char name[64];
        snprintf(name, sizeof name, "shard-%05zu.bin", s);
        char *path = path_join(c->dir, name);
        if (!path) return SCFM_ENOMEM;
        c->shards[s].first = (size_t)cells;
        rc = shard_open(c, &c->shards[s], path, nc, nt, crc);
        free(path);
        if (rc) return rc;
        cells += nc;
        toks += nt;
        for (size_t i = 0; i < nc; i++) {
            size_t l = (size_t)(c->shards[s].off[i + 1] - c->shards[s].off[i]);
            if (l > c->longest) c->longest = l;
        }
    }
    if (cells != c->n_cells || toks != c->n_tokens)
        return scfm_error(SCFM_EFORMAT, "%s: shards hold %llu cells / %llu tokens but n_cells/n_tokens say %zu / %llu",
                          jpath, (unsigned long long)cells, (unsigned long long)toks, c->n_cells,
                          (unsigned long long)c->n_tokens);
    return SCFM_OK;
}

/* ---- open: obs.tsv ---------------------------------------------------------------------- */
/* Splits one line at p (ending at '\n' or end) into NUL-separated fields; returns field
 * count and advances *p past the line. */
static size_t split_line(char **p, char *end) {
    size_t n = 1;
    char *q = *p;
    while (q < end && *q != '\n') {
        if (*q == '\t') { *q = '\0'; n++; }
        q++;
    }
    if (q < end) *q++ = '\0';
    *p = q;
    return n;
}

static int obs_header(scfm_corpus *c, char **p, char *end, const char *path) {
    const scfm_json *cols = scfm_json_get(c->meta, "obs_columns");
    if (!cols || cols->type != SCFM_JSON_ARRAY) return scfm_error(SCFM_EFORMAT, "%s/corpus.json: 'obs_columns' missing", c->dir);
    c->n_obs = cols->n;
    char *line = *p;
    size_t nf = split_line(p, end);
    if (nf != c->n_obs + 1 || strcmp(line, "cell_id"))
        return scfm_error(SCFM_EFORMAT, "%s: header does not match corpus.json obs_columns", path);
    if (!(c->obs_names = scfm_calloc(c->n_obs ? c->n_obs : 1, sizeof(char *)))) return SCFM_ENOMEM;
    char *f = line + strlen(line) + 1;
    for (size_t k = 0; k < c->n_obs; k++, f += strlen(f) + 1) {
        if (cols->items[k].type != SCFM_JSON_STRING || strcmp(cols->items[k].string, f))
            return scfm_error(SCFM_EFORMAT, "%s: column %zu '%s' does not match corpus.json", path, k + 1, f);
        c->obs_names[k] = f;
    }
    return SCFM_OK;
}

static int load_obs(scfm_corpus *c) {
    char *path = path_join(c->dir, "obs.tsv");
    if (!path) return SCFM_ENOMEM;
    size_t len;
    int rc = scfm_read_file(path, &c->obs_buf, &len);
    if (!rc && memchr(c->obs_buf, '\0', len)) rc = scfm_error(SCFM_EFORMAT, "%s: contains NUL bytes", path);
    char *p = c->obs_buf, *end = c->obs_buf + (rc ? 0 : len);
    if (!rc) rc = obs_header(c, &p, end, path);
    if (!rc && !(c->rows = scfm_calloc(c->n_cells ? c->n_cells : 1, sizeof(char *)))) rc = SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < c->n_cells; i++) {
        if (p >= end) { rc = scfm_error(SCFM_EFORMAT, "%s: %zu rows, corpus has %zu cells (truncated)", path, i, c->n_cells); break; }
        c->rows[i] = p;
        if (split_line(&p, end) != c->n_obs + 1)
            rc = scfm_error(SCFM_EFORMAT, "%s: row %zu does not have %zu fields", path, i + 2, c->n_obs + 1);
    }
    if (!rc && p < end) rc = scfm_error(SCFM_EFORMAT, "%s: more rows than the corpus's %zu cells", path, c->n_cells);
    free(path);
    return rc;
}

scfm_corpus *scfm_corpus_open(const char *dir) {
    scfm_corpus *c = scfm_calloc(1, sizeof *c);
    if (!c) return NULL;
    char *jpath = path_join(dir, "corpus.json"), *text = NULL;
    size_t len;
    int rc = (c->dir = scfm_strdup(dir)) && jpath ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && !path_exists(dir)) rc = scfm_error(SCFM_EIO, "%s: no such corpus directory", dir);
    if (!rc) rc = scfm_read_file(jpath, &text, &len);
    if (!rc && !(c->meta = scfm_json_parse(text, len, jpath))) rc = SCFM_EFORMAT;
    if (!rc) rc = meta_header(c, jpath);
    if (!rc) rc = open_shards(c, jpath);
    if (!rc) rc = load_obs(c);
    if (!rc) rc = load_species(c, jpath);
    if (!rc) rc = load_joint(c, jpath);
    free(text);
    free(jpath);
    if (rc) { scfm_corpus_close(c); return NULL; }
    return c;
}
