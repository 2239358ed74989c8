/* scfm tokenize: count matrices -> rank-value token corpus (docs/computation.md sections 1-3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "scfm/corpus.h"
#include "scfm/io.h"

static const char *CMD = "tokenize";

static void tokenize_help(void) {
    printf(
        "usage: scfm tokenize INPUT... -o DIR --vocab FILE --medians FILE [options]\n\n"
        "Writes a rank-value corpus (Geneformer V1/V2, mouse-Geneformer, GeneCompass values) from count\n"
        "matrices: .h5ad, 10x matrix.mtx directories, 10x .h5, .loom, .csv/.tsv. Many inputs make one corpus.\n\n"
        "  -o, --out DIR              output corpus directory (refused if it exists, unless --force)\n"
        "  --mode v1|v2               V1: <= 2048 genes, no specials; V2: <cls> + <= 4094 genes + <eos> (default v1)\n"
        "  --vocab FILE               token dictionary (.pkl, .tsv[.gz], scfm vocab.tsv)\n"
        "  --medians FILE             gene median dictionary (.pkl, .tsv[.gz], scfm medians.tsv)\n"
        "  --gene-names FILE          symbol -> Ensembl ID table (gene_name_id_dict or a gene csv); repeatable\n"
        "  --gene-column COL          var column / loom row attr / features column holding gene IDs or symbols\n"
        "  --matrix M                 h5ad: X (default), raw/X or layers/<name>; loom: a layer name\n"
        "  --format F                 auto (default), h5ad, mtx, 10x-h5, loom, csv, tsv\n"
        "  --genes-in-rows            csv/tsv: one gene per row (default: one cell per row)\n"
        "  --genome G                 10x h5 (CellRanger 2): the genome group to read\n"
        "  --to-species human|mouse   convert gene IDs to this species through --orthologs first\n"
        "  --orthologs FILE           BioMart csv or HCOP tsv ortholog table\n"
        "  --ortholog-min-support N   HCOP: keep pairs supported by >= N databases\n"
        "  --all-orthologs            also use one-to-many orthologs (default: one-to-one only)\n"
        "  --norm n_counts|vocab-sum  divide by the cell's total (default) or by its vocabulary-gene sum\n"
        "                             (mouse-Geneformer)\n"
        "  --ignore-n-counts          compute n_counts from the matrix even if the file has obs n_counts\n"
        "  --obs COL                  carry this obs column with each cell (repeatable; missing column = error)\n"
        "  --values                   store GeneCompass values log2(1 + counts/median) per token, as GeneCompass's\n"
        "                             released inputs (no per-cell step; genes without a median get median 1)\n"
        "  --values-per-cell          values with the per-cell step: log2(1 + counts/n_counts*1e4/median); implies --values\n"
        "  --values-raw-median        the same as --values (older name)\n"
        "  --missing-median one|drop  genes of the vocabulary without a median: median 1 (default with values) or\n"
        "                             dropped (default without values, Geneformer)\n"
        "  --species human|mouse      species of the cells, recorded per cell (default: --to-species); required with a\n"
        "                             joint vocabulary (vocab build --human/--mouse), where homologous mouse genes take\n"
        "                             the human token\n"
        "  --allow-non-integer        accept non-integer counts (default: error naming file, cell, gene)\n"
        "  --max-len N                longest cell in tokens, specials included (default 2048 V1, 4096 V2)\n"
        "  --threads N                threads (default: OpenMP default); output is identical for any N\n"
        "  --chunk N                  cells read and tokenized per step (default 1024)\n"
        "  --read-memory MIB          mtx: read a file in one pass into memory when its entries fit in MIB\n"
        "                             (16 bytes per non-zero; default 1024); 0 = always stream in two passes\n"
        "                             with memory bounded by --chunk\n"
        "  --shard-cells N            cells per shard file (default 65536)\n"
        "  --force                    replace an existing corpus at DIR\n");
}

typedef struct {
    scfm_tokenize_opts o;
    const char **inputs, **names, **obs;
    size_t n_inputs;
    const char *out;
} tok_args;

static const char *const VALUE_OPTS[] = {
    "-o", "--out", "--mode", "--vocab", "--medians", "--gene-names", "--gene-column", "--matrix", "--genome", "--format",
    "--to-species", "--species", "--orthologs", "--obs", "--norm", "--max-len", "--chunk", "--read-memory", "--shard-cells",
    "--threads", "--ortholog-min-support", "--missing-median", NULL};

static int takes_value(const char *a) {
    for (const char *const *o = VALUE_OPTS; *o; o++)
        if (!strcmp(a, *o)) return 1;
    return 0;
}

static int parse_choice(const char *opt, const char *v, const char *a, const char *b, int *out) {
    if (!strcmp(v, a)) *out = 0;
    else if (!strcmp(v, b)) *out = 1;
    else return cli_usage_error(CMD, "%s: '%s' is not one of %s, %s", opt, v, a, b);
    return 0;
}

/* Options taking a size value. Returns 1 if handled (rc in *rc), else 0. */
static int parse_size_opt(tok_args *t, const char *opt, const char *val, int *rc) {
    long v = 0;
    size_t *dst = NULL;
    long lo = 1, hi = 1L << 30;
    if (!strcmp(opt, "--max-len")) { dst = &t->o.max_len; lo = 1; hi = 1L << 20; }
    else if (!strcmp(opt, "--chunk")) dst = &t->o.chunk_cells;
    else if (!strcmp(opt, "--shard-cells")) dst = &t->o.shard_cells;
    else if (!strcmp(opt, "--threads")) { hi = 4096; }
    else if (!strcmp(opt, "--ortholog-min-support")) { lo = 0; hi = 1000; }
    else if (!strcmp(opt, "--read-memory")) { dst = &t->o.read_memory_mib; lo = 0; hi = 1L << 30; }
    else return 0;
    *rc = cli_long(CMD, opt, val, lo, hi, &v);
    if (*rc) return 1;
    if (dst == &t->o.read_memory_mib) *dst = v == 0 ? SCFM_READ_STREAM : (size_t)v;
    else if (dst) *dst = (size_t)v;
    else if (!strcmp(opt, "--threads")) t->o.threads = (int)v;
    else t->o.ortholog_min_support = (int)v;
    return 1;
}

/* Options taking a string value. Returns 1 if handled. */
static int parse_str_opt(tok_args *t, const char *opt, const char *val, int *rc) {
    int c = 0;
    *rc = 0;
    if (!strcmp(opt, "-o") || !strcmp(opt, "--out")) t->out = val;
    else if (!strcmp(opt, "--mode")) { *rc = parse_choice(opt, val, "v1", "v2", &c); t->o.mode = val; }
    else if (!strcmp(opt, "--vocab")) t->o.vocab_path = val;
    else if (!strcmp(opt, "--medians")) t->o.medians_path = val;
    else if (!strcmp(opt, "--gene-names")) t->names[t->o.n_gene_name_paths++] = val;
    else if (!strcmp(opt, "--gene-column")) t->o.gene_column = val;
    else if (!strcmp(opt, "--matrix")) t->o.matrix = val;
    else if (!strcmp(opt, "--genome")) t->o.genome = val;
    else if (!strcmp(opt, "--format")) t->o.format = !strcmp(val, "auto") ? NULL : val;
    else if (!strcmp(opt, "--to-species")) { *rc = parse_choice(opt, val, "human", "mouse", &c); t->o.to_species = val; }
    else if (!strcmp(opt, "--species")) { *rc = parse_choice(opt, val, "human", "mouse", &c); t->o.species = val; }
    else if (!strcmp(opt, "--orthologs")) t->o.orthologs_path = val;
    else if (!strcmp(opt, "--obs")) t->obs[t->o.n_obs++] = val;
    else if (!strcmp(opt, "--missing-median")) {
        *rc = parse_choice(opt, val, "one", "drop", &c);
        t->o.missing_median = c ? SCFM_MISSING_MEDIAN_DROP : SCFM_MISSING_MEDIAN_ONE;
    } else if (!strcmp(opt, "--norm")) {
        *rc = parse_choice(opt, val, "n_counts", "vocab-sum", &c);
        t->o.norm = c ? SCFM_NORM_VOCAB_SUM : SCFM_NORM_N_COUNTS;
    } else return parse_size_opt(t, opt, val, rc);
    return 1;
}

static int parse_flag(tok_args *t, const char *opt) {
    if (!strcmp(opt, "--values") || !strcmp(opt, "--values-raw-median")) {
        if (!t->o.values) t->o.values = SCFM_VALUES_RAW_MEDIAN;
    } else if (!strcmp(opt, "--values-per-cell")) t->o.values = SCFM_VALUES_NORMALIZED;
    else if (!strcmp(opt, "--all-orthologs")) t->o.all_orthologs = 1;
    else if (!strcmp(opt, "--ignore-n-counts")) t->o.ignore_file_n_counts = 1;
    else if (!strcmp(opt, "--allow-non-integer")) t->o.allow_non_integer = 1;
    else if (!strcmp(opt, "--force")) t->o.force = 1;
    else if (!strcmp(opt, "--genes-in-rows")) t->o.genes_in_rows = 1;
    else return 0;
    return 1;
}

static int parse_args(tok_args *t, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (a[0] != '-' || !strcmp(a, "-")) { t->inputs[t->n_inputs++] = a; continue; }
        if (!strcmp(a, "--")) { while (++i < argc) t->inputs[t->n_inputs++] = argv[i]; break; }
        if (parse_flag(t, a)) continue;
        if (!takes_value(a)) return cli_usage_error(CMD, "unknown option '%s'", a);
        if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", a);
        parse_str_opt(t, a, argv[++i], &rc);
        if (rc) return rc;
    }
    if (!t->n_inputs) return cli_usage_error(CMD, "no input files");
    if (!t->out) return cli_usage_error(CMD, "no output directory (-o DIR)");
    if (!t->o.vocab_path || !t->o.medians_path) return cli_usage_error(CMD, "--vocab and --medians are required");
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { tokenize_help(); return 0; }
    tok_args t;
    memset(&t, 0, sizeof t);
    size_t n = (size_t)argc + 1;
    t.inputs = calloc(n, sizeof(char *));
    t.names = calloc(n, sizeof(char *));
    t.obs = calloc(n, sizeof(char *));
    if (!t.inputs || !t.names || !t.obs) { free(t.inputs); free(t.names); free(t.obs); return cli_errorf(CMD, "out of memory"); }
    int rc = parse_args(&t, argc, argv);
    if (!rc) {
        t.o.gene_name_paths = t.names;
        t.o.obs = t.obs;
        t.o.command = cli_cmdline();
        cli_keep_freed_memory();
        scfm_tokenize_stats st;
        if (scfm_tokenize_files(t.inputs, t.n_inputs, &t.o, t.out, &st)) rc = cli_fail(CMD);
        else
            cli_done(CMD, "%zu of %zu cells from %zu input file%s, %llu tokens%s -> %s", st.n_cells_kept, st.n_cells_in,
                     st.n_inputs, st.n_inputs == 1 ? "" : "s", (unsigned long long)st.n_tokens,
                     st.n_renamed ? " (cell IDs made unique)" : "", t.out);
    }
    free(t.inputs);
    free(t.names);
    free(t.obs);
    return rc;
}
