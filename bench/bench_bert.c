/* Benchmark: BERT forward (eval, the encoder alone: embedding extraction) and a full training step (forward + backward + grad clip +
 * AdamW) for a preset shape, default the Geneformer-V1 shape (6 layers, H 256, 4 heads,
 * FFN 512, V 25426) at T = 2048, batch 4, 15% masked rows (logits only there).
 * Compare with bench/bench_bert_torch.py (same shape and thread count), or run
 * bench/bench_bert.sh which runs both and prints the ratio.
 * Usage: bench_bert [--preset NAME] [--T 2048] [--batch 4] [--iters 3] [--dropout]
 *                   [--layers L] [--hidden H] [--heads A] [--ffn F] [--vocab V] [--only fwd|step]
 *                   [--precision fp32|bf16|int8]
 * --precision bf16 runs the forward in bf16 (scfm_model_set_precision; the training step
 * stays fp32, so use it with --only fwd).
 * --layers/--hidden/--heads/--ffn/--vocab override the preset's shape (bench/v2_memory.sh);
 * --only runs one measurement (and not the matmul ceiling), so that the process's peak RSS,
 * printed as peak_rss_mib (getrusage), is that measurement's: forward only needs no
 * optimizer state and no gradients.
 * Threads: OMP_NUM_THREADS; matmul backend: SCFM_GEMM (auto, onednn, openblas, portable).
 * Also measures the machine's f32 matmul ceiling: the best GFLOP/s of an 8192 x 768 x 256
 * product (the QKV projection of T = 2048, B = 4) over every backend the build has, printed
 * beside the forward pass's GFLOP/s (model FLOPs: matrix products and attention).
 * Output: human-readable lines plus one "RESULT scfm fwd_tokens_per_s=... ..." line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "scfm/model.h"
#include "scfm/nn.h"
#include "scfm/rng.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static long arg_long(int argc, char **argv, const char *name, long def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return strtol(argv[i + 1], NULL, 10);
    return def;
}

static const char *arg_str(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}

/* Best GFLOP/s of out[8192,768] = x[8192,256] w[768,256]^T over the backends; *best_be names it. */
static double matmul_ceiling(char *best_be, size_t cap) {
    const size_t N = 8192, C = 256, OC = 768;
    float *x = malloc(N * C * sizeof *x), *w = malloc(OC * C * sizeof *w), *o = malloc(N * OC * sizeof *o);
    for (size_t i = 0; i < N * C; i++) x[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < OC * C; i++) w[i] = (float)(i % 7) * 0.01f;
    char names[128];
    snprintf(names, sizeof names, "%s", scfm_gemm_backends());
    const char *keep = scfm_gemm_backend();
    double best = 0;
    for (char *sv, *n = strtok_r(names, " ", &sv); n; n = strtok_r(NULL, " ", &sv)) {
        if (!strcmp(n, "portable") || scfm_gemm_set_backend(n)) continue;
        scfm_matmul_forward(o, x, w, NULL, N, C, OC); /* warm-up */
        double t0 = scfm_now();
        for (int r = 0; r < 5; r++) scfm_matmul_forward(o, x, w, NULL, N, C, OC);
        double gf = 5 * 2.0 * N * C * OC / (scfm_now() - t0) / 1e9;
        printf("  matmul 8192x768x256 on %-8s %8.1f GFLOP/s\n", n, gf);
        if (gf > best) { best = gf; snprintf(best_be, cap, "%s", n); }
    }
    if (scfm_gemm_set_backend(keep)) best = 0;
    free(x); free(w); free(o);
    return best;
}

int main(int argc, char **argv) {
    const char *preset = arg_str(argc, argv, "--preset", "geneformer-v1");
    size_t T = (size_t)arg_long(argc, argv, "--T", 2048), B = (size_t)arg_long(argc, argv, "--batch", 4);
    long iters = arg_long(argc, argv, "--iters", 3);
    int dropout = 0;
    for (int i = 1; i < argc; i++) dropout |= !strcmp(argv[i], "--dropout");
    const char *only = arg_str(argc, argv, "--only", "");
    const int do_fwd = strcmp(only, "step") != 0, do_step = strcmp(only, "fwd") != 0;
    if (*only && strcmp(only, "fwd") && strcmp(only, "step")) { fprintf(stderr, "--only wants fwd or step, got '%s'\n", only); return 1; }
    scfm_precision prec;
    if (scfm_precision_from_name(arg_str(argc, argv, "--precision", "fp32"), &prec)) {
        fprintf(stderr, "--precision: %s\n", scfm_last_error());
        return 1;
    }
    const char *gemm = getenv("SCFM_GEMM");
    if (gemm && *gemm && scfm_gemm_set_backend(gemm)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    scfm_bert_config c;
    if (scfm_bert_config_preset(&c, preset)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    if (!dropout) c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0;
    long shape[5] = {arg_long(argc, argv, "--layers", 0), arg_long(argc, argv, "--hidden", 0),
                     arg_long(argc, argv, "--heads", 0), arg_long(argc, argv, "--ffn", 0),
                     arg_long(argc, argv, "--vocab", 0)};
    size_t *dims[5] = {&c.num_hidden_layers, &c.hidden_size, &c.num_attention_heads, &c.intermediate_size,
                       &c.vocab_size};
    for (int k = 0; k < 5; k++) {
        if (shape[k] < 0) { fprintf(stderr, "bad shape option\n"); return 1; }
        if (shape[k]) *dims[k] = (size_t)shape[k];
    }
    if (T > c.max_position_embeddings || T == 0 || B == 0 || iters < 1) { fprintf(stderr, "bad T/batch/iters\n"); return 1; }
    /* forward: the encoder alone (no head), what embedding extraction runs; training step: the
     * MLM head at the masked rows. Each model exists only when its measurement runs. */
    scfm_model *m = do_step ? scfm_model_create(&c, SCFM_HEAD_MLM, 1) : NULL;
    scfm_model *enc = do_fwd ? scfm_model_create(&c, SCFM_HEAD_NONE, 1) : NULL;
    if ((do_step && !m) || (do_fwd && !enc)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    if (enc && scfm_model_set_precision(enc, prec)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    size_t N = B * T, M = 0;
    size_t *offs = malloc((B + 1) * sizeof *offs), *rows = malloc(N * sizeof *rows);
    int32_t *ids = malloc(N * sizeof *ids), *lab = malloc(N * sizeof *lab);
    scfm_rng r;
    scfm_rng_seed(&r, 5);
    for (size_t b = 0; b <= B; b++) offs[b] = b * T;
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int32_t)(2 + scfm_rng_below(&r, c.vocab_size - 2));
        if (scfm_rng_uniform(&r) < 0.15f) { rows[M] = i; lab[M++] = ids[i]; ids[i] = 1; }
    }
    scfm_bert_input in = {.B = B, .offs = offs, .ids = ids, .n_mlm = M, .mlm_rows = rows, .mlm_labels = lab};
    scfm_adamw_config oc;
    scfm_adamw_config_init(&oc);
    oc.weight_decay = 0.001f;
    scfm_adamw opt;
    if (do_step && scfm_adamw_init(&opt, m, &oc)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    float loss = 0;
    /* warm-ups size the arenas; forward only: no backward, so no gradients */
    scfm_bert_input ein = {.B = B, .offs = offs, .ids = ids};
    if ((do_fwd && scfm_model_forward(enc, &ein, 0, 0, NULL)) ||
        (do_step && (scfm_model_forward(m, &in, 1, 0, &loss) || scfm_model_backward(m)))) {
        fprintf(stderr, "%s\n", scfm_last_error());
        return 1;
    }
    double t0 = scfm_now(), fwd = 0, step = 0;
    for (long it = 0; do_fwd && it < iters; it++)
        if (scfm_model_forward(enc, &ein, 0, 0, NULL)) return 1;
    if (do_fwd) fwd = (scfm_now() - t0) / (double)iters;
    t0 = scfm_now();
    for (long it = 0; do_step && it < iters; it++) {
        if (scfm_model_zero_grad(m) || scfm_model_forward(m, &in, 1, (uint64_t)it, &loss) || scfm_model_backward(m))
            return 1;
        scfm_model_clip_grad_norm(m, 1.0);
        if (scfm_adamw_step(&opt, m, 1e-4f)) return 1;
    }
    if (do_step) step = (scfm_now() - t0) / (double)iters;
    struct rusage ru;
    const double rss_mib = getrusage(RUSAGE_SELF, &ru) ? 0 : (double)ru.ru_maxrss / 1024.0;
    printf("scfm bert %s: L %zu H %zu heads %zu FFN %zu V %zu, batch %zu x T %zu (%zu masked), %d threads, %zu params, "
           "forward in %s\n",
           preset, c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size, c.vocab_size, B, T,
           M, threads, scfm_model_num_params(m ? m : enc), scfm_precision_name(prec));
    char kern[128], cpu[64], best_be[32] = "-";
    printf("  cpu: %s; matmul: %s (%s)\n", scfm_cpu_model(cpu, sizeof cpu), scfm_gemm_backend(),
           scfm_gemm_kernel(kern, sizeof kern));
    /* forward FLOPs (encoder): per layer QKV, output, 2 FFN products and the two attention products */
    const double H = (double)c.hidden_size, F = (double)c.intermediate_size, L = (double)c.num_hidden_layers;
    const double flops = L * (2.0 * (double)N * H * (4 * H + 2 * F) + 4.0 * (double)B * (double)T * (double)T * H);
    const double ceiling = *only ? 0 : matmul_ceiling(best_be, sizeof best_be);
    if (do_fwd) {
        printf("  forward (eval):      %8.3f s  %8.2f cells/s  %10.0f tokens/s  %6.1f GFLOP/s", fwd, (double)B / fwd,
               (double)N / fwd, flops / fwd / 1e9);
        if (*only) printf("\n");
        else printf(" (matmul ceiling %.1f, %s)\n", ceiling, best_be);
    }
    if (do_step)
        printf("  train step (fwd+bwd+AdamW): %8.3f s  %8.2f cells/s  %10.0f tokens/s  (loss %.4f)\n", step,
               (double)B / step, (double)N / step, (double)loss);
    printf("  peak RSS: %.1f MiB\n", rss_mib);
    printf("RESULT scfm");
    if (do_fwd) printf(" fwd_tokens_per_s=%.1f", (double)N / fwd);
    if (do_step) printf(" step_tokens_per_s=%.1f", (double)N / step);
    printf(" threads=%d", threads);
    if (do_fwd) printf(" fwd_gflops=%.1f", flops / fwd / 1e9);
    if (!*only) printf(" ceiling_gflops=%.1f", ceiling);
    printf(" peak_rss_mib=%.1f backend=%s precision=%s\n", rss_mib, scfm_gemm_backend(), scfm_precision_name(prec));
    if (do_step) scfm_adamw_free(&opt);
    scfm_model_free(m);
    scfm_model_free(enc);
    scfm_bert_config_free(&c);
    free(offs); free(rows); free(ids); free(lab);
    return 0;
}
