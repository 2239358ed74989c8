/* scfm model: create (init), inspect (info), and debug (forward, train) BERT checkpoints. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "scfm/genes.h"
#include "scfm/prior_table.h"
#include "scfm/rng.h"
#include "scfm/genes.h"
#include "scfm/model.h"
#include "scfm/safetensors.h"

static const char *CMD = "model";

static void model_help(void) {
    printf("usage: scfm model init --config PRESET|config.json -o DIR [--seed N] [--vocab FILE]\n"
           "                       [--head mlm|seqcls|tokcls|none] [--labels N|a,b,c] [--set KEY=VALUE]\n"
           "                       [--prior NAME=FILE] [--prior-random] [--homologs FILE] [--gene-names FILE]\n"
           "       scfm model info DIR\n"
           "       scfm model forward DIR --tokens FILE -o OUT.safetensors [--head H] [--labels N] [--threads N]\n"
           "       scfm model train DIR --tokens FILE --steps N -o OUT_DIR [--lr X] [--seed N] [--threads N]\n\n"
           "init     writes a randomly initialised checkpoint (config.json + model.safetensors, the Hugging\n"
           "         Face layout that transformers loads). Presets: %s.\n"
           "         --vocab sets vocab_size (and pad_token_id) from a vocabulary (.pkl/.tsv[.gz]) and copies\n"
           "         it to DIR/vocab.tsv; --labels gives the classes of a seqcls/tokcls head; --set changes\n"
           "         any config.json field (use_values=false, prior_embedding_size=64, ...).\n"
           "         GeneCompass presets (genecompass-base, genecompass-small) use four prior tables:\n"
           "         --prior NAME=FILE (NAME promoter, co_exp, gene_family, peca_grn; FILE .tsv/.npy/\n"
           "         .safetensors/.pkl keyed by Ensembl ID, or by symbol with --gene-names) for each, or\n"
           "         --prior-random for seeded random tables (the rule of docs/priors.md for genes a table\n"
           "         lacks; tests, ablations); --homologs FILE (the\n"
           "         homologs.tsv of a joint vocabulary) sets the mouse->human prior remap.\n"
           "info     prints the configuration, the tensor table and the parameter count, and checks that the\n"
           "         checkpoint loads.\n"
           "forward  (debug) evaluates the model on token sequences (FILE: one sequence per line, token ids\n"
           "         separated by spaces) and writes logits (MLM: at every token) [rows, cols], hidden.<l>\n"
           "         [N, H] and offs to OUT.safetensors.\n"
           "train    (debug) N AdamW steps (weight decay 0.01, clip 1.0, constant lr, default 1e-3) of masked\n"
           "         language modelling on FILE (every third token masked), then saves OUT_DIR.\n",
           scfm_bert_config_preset_names());
}

/* ---- helpers -------------------------------------------------------------------------- */
static int parse_labels(const char *spec, scfm_bert_config *c) {
    char *end;
    long n = strtol(spec, &end, 10);
    if (*spec && !*end) {
        if (n < 1 || n > 100000) return cli_usage_error(CMD, "--labels: %ld is out of range [1, 100000]", n);
        return scfm_bert_config_set_labels(c, (size_t)n, NULL) ? cli_fail(CMD) : 0;
    }
    char *copy = scfm_strdup(spec);
    size_t k = 1;
    for (const char *p = spec; *p; p++) k += *p == ',';
    const char **names = calloc(k, sizeof *names);
    if (!copy || !names) { free(copy); free(names); return cli_errorf(CMD, "out of memory"); }
    k = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) names[k++] = t;
    int rc = k ? (scfm_bert_config_set_labels(c, k, names) ? cli_fail(CMD) : 0)
               : cli_usage_error(CMD, "--labels: no label names");
    free(names);
    free(copy);
    return rc;
}

static int load_config_arg(const char *arg, scfm_bert_config *c) {
    struct stat sb;
    if (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)) return scfm_bert_config_load(c, arg) ? cli_fail(CMD) : 0;
    if (!scfm_bert_config_preset(c, arg)) return 0;
    size_t n = strlen(arg);
    if (stat(arg, &sb) == 0) return cli_usage_error(CMD, "--config: %s is not a file (a config.json or a preset name)", arg);
    if (strchr(arg, '/') || (n > 5 && !strcmp(arg + n - 5, ".json")))
        return cli_usage_error(CMD, "--config: %s: no such file", arg);
    return cli_usage_error(CMD, "--config: %s (or no such file)", scfm_last_error());
}

static int apply_vocab(const char *path, scfm_bert_config *c, scfm_vocab **out) {
    scfm_vocab *v = scfm_vocab_load(path);
    if (!v) return cli_fail(CMD);
    c->vocab_size = scfm_vocab_size(v);
    int64_t pad = scfm_vocab_special(v, "<pad>");
    c->pad_token_id = pad >= 0 ? pad : -1;
    snprintf(c->vocab_hash, sizeof c->vocab_hash, "%016" PRIx64, scfm_vocab_hash(v));
    *out = v;
    return 0;
}

/* ---- init ----------------------------------------------------------------------------- */
#define MAX_SETS 64
typedef struct {
    const char *prior[SCFM_N_PRIORS], *homologs, *names;
    int prior_random;
    const char *sets[MAX_SETS];
    size_t n_sets;
} gc_args;

static int parse_prior(const char *spec, gc_args *g) {
    const char *eq = strchr(spec, '=');
    for (int k = 0; eq && k < SCFM_N_PRIORS; k++) {
        const char *n = scfm_prior_name(k);
        if (strlen(n) == (size_t)(eq - spec) && !strncmp(spec, n, strlen(n)) && eq[1]) {
            g->prior[k] = eq + 1;
            return 0;
        }
    }
    return cli_usage_error(CMD, "--prior wants NAME=FILE with NAME promoter, co_exp, gene_family or peca_grn, got '%s'",
                           spec);
}

/* Prior tables and the homolog map of a new GeneCompass model (needs the vocabulary). */
static int fill_genecompass(scfm_model *m, const gc_args *g, const scfm_vocab *v, uint64_t seed) {
    const scfm_genecompass_config *gc = &m->cfg.genecompass;
    if (!gc->enabled) {
        if (g->prior_random || g->homologs) return cli_usage_error(CMD, "--prior/--homologs need a GeneCompass config");
        for (int k = 0; k < SCFM_N_PRIORS; k++)
            if (g->prior[k]) return cli_usage_error(CMD, "--prior needs a GeneCompass config");
        return 0;
    }
    if ((scfm_gc_n_priors(gc) || g->homologs) && !v)
        return cli_usage_error(CMD, "a GeneCompass model with prior tables needs --vocab (the token order of the tables)");
    scfm_gene_map *names = NULL;
    if (g->names && (!(names = scfm_gene_map_new()) || scfm_gene_map_add_file(names, g->names))) {
        scfm_gene_map_free(names);
        return cli_fail(CMD);
    }
    int rc = 0;
    for (int k = 0; k < SCFM_N_PRIORS && !rc; k++) {
        if (!gc->use_prior[k]) {
            if (g->prior[k]) rc = cli_usage_error(CMD, "--prior %s: the config has use_%s = false", scfm_prior_name(k),
                                                  scfm_prior_name(k));
            continue;
        }
        if (!g->prior[k] && !g->prior_random) {
            rc = cli_usage_error(CMD, "the config uses the %s prior: give --prior %s=FILE, --prior-random, or "
                                 "--set use_%s=false", scfm_prior_name(k), scfm_prior_name(k), scfm_prior_name(k));
            break;
        }
        float *t = NULL;
        size_t width = 0;
        scfm_prior_report rep = {0};
        scfm_prior_opts o = {.width = gc->prior_dim, .seed = scfm_hash3(seed, 0x505249, (uint64_t)k), .names = names};
        if (g->prior[k]) {
            if (scfm_prior_table_load(g->prior[k], v, &o, &t, &width, &rep)) { rc = cli_fail(CMD); break; }
            fprintf(stderr, "scfm model: %s prior %s: %zu genes from the file, %zu random, %zu specials, %zu keys not in "
                    "the vocabulary\n", scfm_prior_name(k), g->prior[k], rep.matched, rep.random_rows, rep.special_rows,
                    rep.unknown_keys);
        } else {
            size_t V = scfm_vocab_size(v);
            width = gc->prior_dim;
            if (!(t = calloc(V * width, sizeof *t))) { rc = cli_errorf(CMD, "out of memory"); break; }
            for (size_t i = 0; i < V; i++) { /* the loader's rule for genes a table lacks; specials zero */
                const char *tok = scfm_vocab_token(v, i);
                if (tok && tok[0] != '<') scfm_prior_random_row(o.seed, tok, t + i * width, width);
            }
        }
        if (scfm_model_set_prior(m, k, t, scfm_vocab_size(v), width)) rc = cli_fail(CMD);
        free(t);
        if (!rc && k == SCFM_PRIOR_PECA_GRN && g->prior[k]) rc = cli_grn_prior_record(CMD, &m->cfg, g->prior[k]);
    }
    if (!rc && g->homologs) {
        int64_t *idx = NULL;
        if (!m->gc.homologous_index) rc = cli_usage_error(CMD, "--homologs: the config uses no prior table to remap");
        else if (scfm_homologs_load(g->homologs, v, &idx) || scfm_model_set_homologs(m, idx, scfm_vocab_size(v)))
            rc = cli_fail(CMD);
        free(idx);
    }
    scfm_gene_map_free(names);
    return rc;
}

static int model_init(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *vocab = NULL, *labels = NULL, *head_name = "mlm";
    long seed = 42;
    gc_args g = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--prior") && v) { if (parse_prior(argv[++i], &g)) return 2; }
        else if (!strcmp(a, "--prior-random")) g.prior_random = 1;
        else if (!strcmp(a, "--homologs") && v) g.homologs = argv[++i];
        else if (!strcmp(a, "--gene-names") && v) g.names = argv[++i];
        else if (!strcmp(a, "--set") && v) {
            if (g.n_sets == MAX_SETS) return cli_usage_error(CMD, "--set: at most %d", MAX_SETS);
            g.sets[g.n_sets++] = argv[++i];
        }
        else if (!strcmp(a, "--config") && v) config = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && v) out = argv[++i];
        else if (!strcmp(a, "--vocab") && v) vocab = argv[++i];
        else if (!strcmp(a, "--labels") && v) labels = argv[++i];
        else if (!strcmp(a, "--head") && v) head_name = argv[++i];
        else if (!strcmp(a, "--seed")) { if (cli_long(CMD, a, v, 0, LONG_MAX, &seed)) return 2; i++; }
        else return cli_usage_error(CMD, "init: unknown or incomplete option '%s'", a);
    }
    if (!config || !out) return cli_usage_error(CMD, "init needs --config and -o");
    scfm_head head;
    if (scfm_head_from_name(head_name, &head)) return cli_usage_error(CMD, "--head: %s", scfm_last_error());
    scfm_bert_config c;
    scfm_vocab *v = NULL;
    int rc = load_config_arg(config, &c);
    for (size_t i = 0; i < g.n_sets && !rc; i++) {
        char key[128];
        const char *eq = strchr(g.sets[i], '=');
        if (!eq || eq == g.sets[i] || (size_t)(eq - g.sets[i]) >= sizeof key) {
            rc = cli_usage_error(CMD, "--set wants KEY=VALUE, got '%s'", g.sets[i]);
            break;
        }
        memcpy(key, g.sets[i], (size_t)(eq - g.sets[i]));
        key[eq - g.sets[i]] = 0;
        rc = cli_config_set(CMD, &c, key, eq + 1);
    }
    if (!rc && vocab) rc = apply_vocab(vocab, &c, &v);
    if (!rc && labels) rc = parse_labels(labels, &c);
    if (!rc && (head == SCFM_HEAD_SEQCLS || head == SCFM_HEAD_TOKCLS) && !c.num_labels)
        rc = cli_usage_error(CMD, "a %s head needs --labels", head_name);
    scfm_model *m = rc ? NULL : scfm_model_create(&c, head, (uint64_t)seed);
    if (!rc && !m) rc = cli_fail(CMD);
    if (!rc) rc = fill_genecompass(m, &g, v, (uint64_t)seed);
    if (!rc && scfm_model_save(m, out)) rc = cli_fail(CMD);
    if (!rc && v) {
        char p[4096];
        snprintf(p, sizeof p, "%s/vocab.tsv", out);
        if (scfm_vocab_write_tsv(v, p)) rc = cli_fail(CMD);
    }
    if (!rc)
        cli_done("model init", "%s: %s, %zu layers, hidden %zu, heads %zu, FFN %zu, %s, vocab %zu, positions %zu, "
                 "%zu parameters", out, scfm_head_name(head), c.num_hidden_layers, c.hidden_size,
                 c.num_attention_heads, c.intermediate_size, scfm_act_name(c.hidden_act), c.vocab_size,
                 c.max_position_embeddings, scfm_model_num_params(m));
    scfm_model_free(m);
    scfm_vocab_free(v);
    scfm_bert_config_free(&c);
    return rc;
}

/* ---- info ----------------------------------------------------------------------------- */
static scfm_head guess_head(const scfm_safetensors *st) {
    int cls = 0, clf = 0, pool = 0;
    for (size_t i = 0; i < st->n; i++) {
        const char *n = st->t[i].name;
        cls |= !strncmp(n, "cls.predictions.", 16);
        clf |= !strncmp(n, "classifier.", 11);
        pool |= strstr(n, "pooler.") != NULL;
    }
    return cls ? SCFM_HEAD_MLM : clf ? (pool ? SCFM_HEAD_SEQCLS : SCFM_HEAD_TOKCLS) : SCFM_HEAD_NONE;
}

static void print_config(const scfm_bert_config *c) {
    printf("config: layers %zu, hidden %zu, heads %zu, FFN %zu, activation %s, vocab %zu, positions %zu,\n"
           "        dropout hidden %g attention %g, layer_norm_eps %g, pad_token_id %lld, tied decoder %s\n",
           c->num_hidden_layers, c->hidden_size, c->num_attention_heads, c->intermediate_size,
           scfm_act_name(c->hidden_act), c->vocab_size, c->max_position_embeddings, (double)c->hidden_dropout_prob,
           (double)c->attention_probs_dropout_prob, (double)c->layer_norm_eps, (long long)c->pad_token_id,
           c->tie_word_embeddings ? "yes" : "no");
    if (c->vocab_hash[0]) printf("        vocabulary hash %s\n", c->vocab_hash);
    const scfm_genecompass_config *g = &c->genecompass;
    if (g->enabled) {
        printf("genecompass: values %s, species row %s (%zu species), priors:", g->use_values ? "on" : "off",
               g->use_cls_token ? "on" : "off", g->n_species);
        for (int k = 0; k < SCFM_N_PRIORS; k++)
            if (g->use_prior[k]) printf(" %s", scfm_prior_name(k));
        if (scfm_gc_n_priors(g)) printf(" (width %zu)", g->prior_dim);
        else printf(" none");
        printf(", loss %g CE + %g MSE\n", (double)g->id_loss_weight, (double)g->value_loss_weight);
    }
    if (c->num_labels) {
        printf("labels (%zu):", c->num_labels);
        for (size_t i = 0; i < c->num_labels; i++) printf(" %s", c->id2label[i]);
        printf("\n");
    }
}

/* The tensor table lists at most this many (the largest real checkpoints have under 600). */
#define INFO_MAX_LISTED 2000

static int model_info(int argc, char **argv) {
    if (argc != 2) return cli_usage_error(CMD, "info takes one checkpoint directory");
    const char *dir = argv[1];
    char p[4096];
    scfm_bert_config c;
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (scfm_bert_config_load(&c, p)) return cli_fail(CMD);
    print_config(&c);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(p, &sb) != 0) {
        scfm_bert_config_free(&c);
        snprintf(p, sizeof p, "%s/pytorch_model.bin", dir);
        if (stat(p, &sb) == 0)
            return cli_errorf(CMD, "%s: only pytorch_model.bin found; convert it once with "
                              "'python scripts/convert_pytorch_bin.py %s OUT_DIR'", dir, dir);
        return cli_errorf(CMD, "%s: no model.safetensors", dir);
    }
    scfm_safetensors *st = scfm_st_open(p);
    if (!st) { scfm_bert_config_free(&c); return cli_fail(CMD); }
    size_t total = 0;
    printf("tensors (%zu):\n", st->n);
    for (size_t i = 0; i < st->n; i++) {
        const scfm_st_tensor *t = &st->t[i];
        if (t->dtype != SCFM_DT_I64) total += t->numel;
        if (i >= INFO_MAX_LISTED) continue; /* a hostile file may hold 100 000s (the count above says so) */
        char shape[96] = "";
        for (size_t d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%zu", d ? ", " : "", t->shape[d]);
        printf("  %-60s %-5s [%s]\n", t->name, scfm_dtype_name(t->dtype), shape);
    }
    if (st->n > INFO_MAX_LISTED) printf("  ... %zu more not listed\n", st->n - INFO_MAX_LISTED);
    scfm_head head = guess_head(st);
    scfm_st_close(st);
    scfm_bert_config_free(&c);
    printf("parameters: %zu (%.2f M)\n", total, (double)total / 1e6);
    scfm_model *m = scfm_model_load(dir, head);
    if (!m) return cli_fail(CMD);
    printf("loads as %s: ok (%zu parameters in the model)\n", scfm_head_name(head), scfm_model_num_params(m));
    cli_done("model info", "%s: %s head, %zu parameters", dir, scfm_head_name(head), scfm_model_num_params(m));
    scfm_model_free(m);
    return 0;
}

/* ---- token files ---------------------------------------------------------------------- */
typedef struct { int32_t *ids; size_t *offs; size_t n, B; } seqs;

static int read_tokens(const char *path, seqs *s) {
    char *text = NULL;
    size_t len = 0;
    memset(s, 0, sizeof *s);
    if (scfm_read_file(path, &text, &len)) return cli_fail(CMD);
    s->ids = malloc((len / 2 + 1) * sizeof *s->ids);
    s->offs = malloc((len / 2 + 2) * sizeof *s->offs);
    if (!s->ids || !s->offs) { free(text); return cli_errorf(CMD, "out of memory"); }
    s->offs[0] = 0;
    size_t line = 1;
    for (char *p = text; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == '\n' || !*p) {
            if (s->n > s->offs[s->B]) s->offs[++s->B] = s->n;
            if (*p) { p++; line++; }
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            free(text);
            return cli_errorf(CMD, "%s:%zu: not a token id", path, line);
        }
        s->ids[s->n++] = (int32_t)v;
        p = end;
    }
    free(text);
    if (!s->B) return cli_errorf(CMD, "%s: no sequences", path);
    return 0;
}

static void free_seqs(seqs *s) { free(s->ids); free(s->offs); }

/* ---- forward -------------------------------------------------------------------------- */
static int write_forward(scfm_model *m, const seqs *s, const char *out) {
    size_t rows = 0, cols = 0, L = m->cfg.num_hidden_layers, H = m->cfg.hidden_size;
    const float *lg = scfm_model_logits(m, &rows, &cols);
    scfm_st_entry *e = calloc(L + 3, sizeof *e);
    char (*names)[32] = calloc(L + 1, sizeof *names);
    int64_t *offs = malloc((s->B + 1) * sizeof *offs);
    if (!e || !names || !offs) { free(e); free(names); free(offs); return cli_errorf(CMD, "out of memory"); }
    size_t k = 0;
    for (size_t b = 0; b <= s->B; b++) offs[b] = (int64_t)s->offs[b];
    e[k++] = (scfm_st_entry){.name = "offs", .dtype = SCFM_DT_I64, .ndim = 1, .shape = {s->B + 1}, .data = offs};
    if (lg) e[k++] = (scfm_st_entry){.name = "logits", .dtype = SCFM_DT_F32, .ndim = 2, .shape = {rows, cols}, .data = lg};
    for (size_t l = 0; l <= L; l++) {
        snprintf(names[l], sizeof names[l], "hidden.%zu", l);
        e[k++] = (scfm_st_entry){.name = names[l], .dtype = SCFM_DT_F32, .ndim = 2, .shape = {s->n, H},
                                 .data = scfm_model_hidden(m, l)};
    }
    static const char *const meta[] = {"format", "pt"};
    int rc = scfm_st_write(out, e, k, meta, 1) ? cli_fail(CMD) : 0;
    free(e);
    free(names);
    free(offs);
    return rc;
}

static int model_forward(int argc, char **argv) {
    const char *dir = NULL, *tokens = NULL, *out = NULL, *head_name = NULL, *labels = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--tokens") && has) tokens = argv[++i];
        else if (!strcmp(a, "-o") && has) out = argv[++i];
        else if (!strcmp(a, "--head") && has) head_name = argv[++i];
        else if (!strcmp(a, "--labels") && has) labels = argv[++i];
        else if (!strcmp(a, "--threads")) { if (cli_threads(CMD, a, has ? argv[i + 1] : NULL)) return 2; i++; }
        else if (a[0] != '-' && !dir) dir = a;
        else return cli_usage_error(CMD, "forward: unknown or incomplete option '%s'", a);
    }
    if (!dir || !tokens || !out) return cli_usage_error(CMD, "forward needs DIR, --tokens and -o");
    scfm_head head = SCFM_HEAD_MLM;
    if (head_name && scfm_head_from_name(head_name, &head)) return cli_usage_error(CMD, "--head: %s", scfm_last_error());
    long nl = 0;
    if (labels && cli_long(CMD, "--labels", labels, 1, 100000, &nl)) return 2;
    seqs s;
    int rc = read_tokens(tokens, &s);
    if (rc) { free_seqs(&s); return rc; }
    scfm_load_opts o = {.num_labels = (size_t)nl};
    scfm_model *m = scfm_model_load_ex(dir, head, &o);
    size_t *rows = malloc(s.n * sizeof *rows);
    if (!m || !rows) rc = cli_fail(CMD);
    for (size_t i = 0; !rc && i < s.n; i++) rows[i] = i;
    scfm_bert_input in = {.B = s.B, .offs = s.offs, .ids = s.ids, .n_mlm = s.n, .mlm_rows = rows};
    if (!rc && scfm_model_forward(m, &in, 0, 0, NULL)) rc = cli_fail(CMD);
    if (!rc) rc = write_forward(m, &s, out);
    if (!rc) cli_done("model forward", "%s: %zu sequences, %zu tokens", out, s.B, s.n);
    free(rows);
    scfm_model_free(m);
    free_seqs(&s);
    return rc;
}

/* ---- train (debug) -------------------------------------------------------------------- */
static int train_steps(scfm_model *m, const seqs *s, long steps, double lr, long seed) {
    int32_t *ids = malloc(s->n * sizeof *ids), *lab = malloc(s->n * sizeof *lab);
    size_t *rows = malloc(s->n * sizeof *rows), M = 0;
    if (!ids || !lab || !rows) { free(ids); free(lab); free(rows); return cli_errorf(CMD, "out of memory"); }
    memcpy(ids, s->ids, s->n * sizeof *ids);
    for (size_t i = 0; i < s->n; i++)
        if (i % 3 == 1) { rows[M] = i; lab[M++] = ids[i]; ids[i] = 1; }
    scfm_bert_input in = {.B = s->B, .offs = s->offs, .ids = ids, .n_mlm = M, .mlm_rows = rows, .mlm_labels = lab};
    scfm_adamw_config oc;
    scfm_adamw_config_init(&oc);
    oc.weight_decay = 0.01f;
    scfm_adamw opt;
    int rc = scfm_adamw_init(&opt, m, &oc) ? cli_fail(CMD) : 0;
    for (long t = 0; !rc && t < steps; t++) {
        float loss = 0;
        if (scfm_model_zero_grad(m) || scfm_model_forward(m, &in, 1, (uint64_t)(seed + t), &loss) ||
            scfm_model_backward(m)) { rc = cli_fail(CMD); break; }
        double norm = scfm_model_clip_grad_norm(m, 1.0);
        if (scfm_adamw_step(&opt, m, (float)lr)) { rc = cli_fail(CMD); break; }
        printf("step %ld: loss %.6f, grad norm %.4f\n", t + 1, (double)loss, norm);
    }
    scfm_adamw_free(&opt);
    free(ids);
    free(lab);
    free(rows);
    return rc;
}

static int model_train(int argc, char **argv) {
    const char *dir = NULL, *tokens = NULL, *out = NULL;
    long steps = 0, seed = 0;
    double lr = 1e-3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tokens") && v) tokens = argv[++i];
        else if (!strcmp(a, "-o") && v) out = argv[++i];
        else if (!strcmp(a, "--steps")) { if (cli_long(CMD, a, v, 1, 1000000, &steps)) return 2; i++; }
        else if (!strcmp(a, "--seed")) { if (cli_long(CMD, a, v, 0, LONG_MAX, &seed)) return 2; i++; }
        else if (!strcmp(a, "--lr")) { if (cli_double(CMD, a, v, 0, 10, &lr)) return 2; i++; }
        else if (!strcmp(a, "--threads")) { if (cli_threads(CMD, a, v)) return 2; i++; }
        else if (a[0] != '-' && !dir) dir = a;
        else return cli_usage_error(CMD, "train: unknown or incomplete option '%s'", a);
    }
    if (!dir || !tokens || !out || !steps) return cli_usage_error(CMD, "train needs DIR, --tokens, --steps and -o");
    seqs s;
    int rc = read_tokens(tokens, &s);
    scfm_model *m = rc ? NULL : scfm_model_load(dir, SCFM_HEAD_MLM);
    if (!rc && !m) rc = cli_fail(CMD);
    if (!rc) rc = train_steps(m, &s, steps, lr, seed);
    if (!rc && scfm_model_save(m, out)) rc = cli_fail(CMD);
    if (!rc) cli_done("model train", "%s: %ld steps on %zu sequences", out, steps, s.B);
    scfm_model_free(m);
    free_seqs(&s);
    return rc;
}

int cmd_model(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        model_help();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "init")) return model_init(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return model_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "forward")) return model_forward(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return model_train(argc - 1, argv + 1);
    return cli_usage_error(CMD, "unknown action '%s' (init, info, forward, train)", argv[1]);
}
