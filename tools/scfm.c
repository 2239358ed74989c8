/* scfm: the command-line tool. Dispatches to one function per subcommand (tools/cmd_*.c). */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli.h"
#include "scfm/model.h"
#include "scfm/json.h"
#include "scfm/nn.h"

#define CMD(name, fn, help) int fn(int argc, char **argv);
#include "commands.def"
#undef CMD

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } command;
static const command commands[] = {
#define CMD(name, fn, help) {#name, fn, help},
#include "commands.def"
#undef CMD
    {NULL, NULL, NULL}};

static char cmdline[8192];
static double t_start;

const char *cli_cmdline(void) { return cmdline; }

/* Progress: on a terminal one line rewritten in place (\r); otherwise (a log file, a pipe)
 * plain lines, at most one each 10 s so that logs stay short. */
static void log_to_stderr(int level, const char *msg, void *ud) {
    (void)ud;
    static int progress_open = 0, tty = -1;
    static double last_plain = -1e30;
    if (tty < 0) tty = isatty(STDERR_FILENO) ? 1 : 0;
    if (level == SCFM_LOG_PROGRESS) {
        if (tty) {
            fprintf(stderr, "\r%s\033[K", msg);
            progress_open = 1;
        } else if (scfm_now() - last_plain >= 10.0) {
            fprintf(stderr, "%s\n", msg);
            last_plain = scfm_now();
        }
        return;
    }
    if (progress_open) { fputc('\n', stderr); progress_open = 0; }
    if (level == SCFM_LOG_DEBUG && !getenv("SCFM_DEBUG")) return;
    fprintf(stderr, "%s%s\n", level == SCFM_LOG_WARN ? "warning: " : level == SCFM_LOG_ERROR ? "error: " : "", msg);
}

int cli_fail(const char *cmd) {
    fprintf(stderr, "scfm %s: %s\n", cmd, scfm_last_error());
    return 1;
}

int cli_errorf(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "scfm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "scfm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'scfm %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_long(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out) {
    if (!val) return cli_usage_error(cmd, "%s needs a value", opt);
    if (scfm_parse_long(val, lo, hi, out)) return cli_usage_error(cmd, "%s: %s", opt, scfm_last_error());
    return 0;
}

int cli_double(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out) {
    if (!val) return cli_usage_error(cmd, "%s needs a value", opt);
    if (scfm_parse_double(val, out)) return cli_usage_error(cmd, "%s: %s", opt, scfm_last_error());
    if (*out < lo || *out > hi) return cli_usage_error(cmd, "%s: %g is out of range [%g, %g]", opt, *out, lo, hi);
    return 0;
}

void cli_keep_freed_memory(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

int cli_threads(const char *cmd, const char *opt, const char *val) {
    long n;
    if (cli_long(cmd, opt, val, 1, 4096, &n)) return 2;
#ifdef SCFM_HAVE_OPENMP
    omp_set_num_threads((int)n);
#endif
    return 0;
}

int cli_precision(const char *cmd, const char *opt, const char *val, scfm_precision *out) {
    if (!val) return cli_usage_error(cmd, "%s needs a value", opt);
    if (scfm_precision_from_name(val, out)) return cli_usage_error(cmd, "%s: %s", opt, scfm_last_error());
    return 0;
}

int cli_set_precision(const char *cmd, scfm_model *m, scfm_precision p) {
    if (p == SCFM_PREC_FP32) return 0;
    if (scfm_model_set_precision(m, p))
        return cli_errorf(cmd, "--precision %s: %s", scfm_precision_name(p), scfm_last_error());
    return 0;
}

void cli_done(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("scfm %s: ", cmd);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
    cli_report_done();
}

void cli_report_done(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                 1e-6 * (double)ru.ru_stime.tv_usec;
    fprintf(stderr, "[scfm %s] %s\n[scfm] real %.2fs, cpu %.2fs, peak RSS %.1f MiB\n", SCFM_VERSION, cmdline,
            scfm_now() - t_start, cpu, (double)ru.ru_maxrss / 1024.0);
}

static void usage(FILE *f) {
    fprintf(f, "scfm %s: single-cell foundation models (Geneformer, mouse-Geneformer, GeneCompass) in C\n\n"
               "usage: scfm <command> [options]   (scfm <command> --help for its options)\n\ncommands:\n",
            SCFM_VERSION);
    for (const command *c = commands; c->name; c++) fprintf(f, "  %-12s %s\n", c->name, c->help);
    fprintf(f, "  %-12s %s\n  %-12s %s\n", "help", "this list", "--version", "print the version");
}

int main(int argc, char **argv) {
    t_start = scfm_now();
    size_t off = 0;
    for (int i = 0; i < argc && off + 2 < sizeof cmdline; i++)
        off += (size_t)snprintf(cmdline + off, sizeof cmdline - off, "%s%s", i ? " " : "", argv[i]);
    if (off >= sizeof cmdline) off = sizeof cmdline - 1;
    scfm_set_log_fn(log_to_stderr, NULL);
    /* A file-size limit (ulimit -f) or a full quota must end in "File too large" from
     * write(), reported like any write error, not in a silent kill by SIGXFSZ. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) { usage(stderr); return 2; }
    const char *gemm = getenv("SCFM_GEMM"); /* matmul backend: auto, onednn, openblas, portable */
    if (gemm && *gemm && scfm_gemm_set_backend(gemm)) {
        fprintf(stderr, "scfm: SCFM_GEMM: %s\n", scfm_last_error());
        return 2;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("scfm %s (built with:%s%s%s%s%s%s)\n", SCFM_VERSION,
#ifdef SCFM_HAVE_OPENMP
               " OpenMP",
#else
               "",
#endif
#ifdef SCFM_HAVE_BLAS
               " OpenBLAS",
#else
               "",
#endif
#ifdef SCFM_HAVE_DNNL
               " oneDNN",
#else
               "",
#endif
#ifdef SCFM_HAVE_HDF5
               " HDF5",
#else
               "",
#endif
#ifdef SCFM_HAVE_MPI
               " MPI",
#else
               "",
#endif
#ifdef SCFM_HAVE_ISAL
               " ISA-L");
#else
               " zlib-inflate");
#endif
        char kernel[128], cpu[64];
        printf("matmul: %s (%s); backends: auto %s (choose with SCFM_GEMM=NAME)\n", scfm_gemm_backend(),
               scfm_gemm_kernel(kernel, sizeof kernel), scfm_gemm_backends());
        printf("cpu: %s;%s%s%s%s%s\n", scfm_cpu_model(cpu, sizeof cpu), scfm_cpu_has("avx") ? " avx" : "",
               scfm_cpu_has("avx2") ? " avx2 fma" : "", scfm_cpu_has("avx512f") ? " avx512f" : "",
               scfm_cpu_has("avx512_vnni") ? " avx512_vnni" : "", scfm_cpu_has("avx512_bf16") ? " avx512_bf16" : "");
        char why[256];
        if (scfm_bf16_supported(why, sizeof why))
            printf("bf16 inference: available (--precision bf16 on embed and perturb)\n");
        else
            printf("bf16 inference: not available (%s)\n", why);
        if (scfm_int8_supported(why, sizeof why))
            printf("int8 inference: available (--precision int8 on embed and perturb)\n");
        else
            printf("int8 inference: not available (%s)\n", why);
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { usage(stdout); return 0; }
    /* --help (or -h) anywhere on the line: the command's help, exit 0, whatever else is there
     * (`scfm corpus info DIR --help`; groups document their sub-commands in one help, except
     * `scfm perturb aggregate`, which has its own) */
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            int sub = !strcmp(argv[1], "perturb") && !strcmp(argv[2], "aggregate");
            char *hv[4] = {argv[1], sub ? argv[2] : (char *)"--help", sub ? (char *)"--help" : NULL, NULL};
            for (const command *c = commands; c->name; c++)
                if (!strcmp(argv[1], c->name)) return c->fn(sub ? 3 : 2, hv) == 0 ? 0 : 2;
            break;
        }
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "scfm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* --set KEY=VALUE on a model config: the config is written to JSON, the key replaced and
 * the JSON read back (so every config.json field can be set, with its own checks). */
int cli_config_set(const char *CMD, scfm_bert_config *c, const char *key, const char *value) {
    char *txt = NULL;
    size_t len = 0;
    if (scfm_bert_config_to_json(c, SCFM_HEAD_MLM, &txt, &len)) return cli_fail(CMD);
    scfm_json *probe = scfm_json_parse(value, strlen(value), NULL);
    int is_json = probe != NULL;
    scfm_json_free(probe);
    scfm_clear_error();
    char *end = strrchr(txt, '}');
    size_t cap = len + strlen(key) + 2 * strlen(value) + 64, n = 0, k = 0;
    char *buf = malloc(cap);
    if (!end || !buf) { free(txt); free(buf); return cli_errorf(CMD, "out of memory"); }
    *end = 0;
    n = (size_t)snprintf(buf, cap, "%s, \"%s\": ", txt, key);
    if (is_json) snprintf(buf + n, cap - n, "%s}", value);
    else if (scfm_json_append_string(&buf, &n, &cap, value) == 0 && n + 2 < cap) { buf[n++] = '}'; buf[n] = 0; }
    free(txt);
    scfm_json *j = scfm_json_parse(buf, strlen(buf), "model config");
    scfm_bert_config next;
    scfm_bert_config_init(&next);
    int rc = j ? scfm_bert_config_from_json(&next, j, "model config") : -1;
    scfm_json_free(j);
    free(buf);
    if (rc) return cli_usage_error(CMD, "--set %s=%s: %s", key, value, scfm_last_error());
    /* the key must be one the config knows: it appears when the config is written back */
    if (scfm_bert_config_to_json(&next, SCFM_HEAD_MLM, &txt, &len)) return cli_fail(CMD);
    char quoted[160];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    k = strstr(txt, quoted) != NULL;
    free(txt);
    if (!k) { scfm_bert_config_free(&next); return cli_usage_error(CMD, "--set: unknown setting '%s'", key); }
    scfm_bert_config_free(c);
    *c = next;
    return 0;
}

