/* oneDNN glue shared by the reduced-precision kernels (onednn.h): what can run, the CPU
 * engine and one matrix product run through oneDNN's matmul primitive. */
#include "onednn.h"

#include "scfm/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scfm__dnnl_supported(const char *feature, char *why, size_t cap) {
    char miss[160] = "";
    size_t n = 0;
    if (!scfm_cpu_has(feature))
        n += (size_t)snprintf(miss, sizeof miss, "the CPU lacks %s%s", feature,
                              getenv("SCFM_CPU_DISABLE") && strstr(getenv("SCFM_CPU_DISABLE"), "avx")
                                  ? " (or SCFM_CPU_DISABLE masks it)"
                                  : "");
#ifdef SCFM_HAVE_DNNL
    const int bf16 = !strcmp(feature, "avx512_bf16");
    const dnnl_cpu_isa_t want = bf16 ? dnnl_cpu_isa_avx512_core_bf16 : dnnl_cpu_isa_avx512_core_vnni;
    if (n < sizeof miss && ((int)dnnl_get_effective_cpu_isa() & (int)want) != (int)want)
        n += (size_t)snprintf(miss + n, sizeof miss - n, "%soneDNN has no %s kernels here", n ? "; " : "",
                              bf16 ? "avx512_core_bf16" : "avx512_core_vnni");
#else
    if (n < sizeof miss)
        n += (size_t)snprintf(miss + n, sizeof miss - n, "%sscfm was built without oneDNN", n ? "; " : "");
#endif
    if (why && cap) snprintf(why, cap, "%s", miss);
    return n == 0;
}

#ifdef SCFM_HAVE_DNNL
static dnnl_engine_t cpu_engine;
static int engine_state; /* 0 none, 1 ready, -1 failed */

dnnl_engine_t scfm__dnnl_engine(void) {
    if (!__atomic_load_n(&engine_state, __ATOMIC_ACQUIRE)) {
#pragma omp critical(scfm_dnnl_engine)
        {
            if (!engine_state) {
                dnnl_engine_t e = NULL;
                const int ok = dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success;
                cpu_engine = e;
                __atomic_store_n(&engine_state, ok ? 1 : -1, __ATOMIC_RELEASE);
            }
        }
    }
    return __atomic_load_n(&engine_state, __ATOMIC_ACQUIRE) == 1 ? cpu_engine : NULL;
}

int scfm__dnnl_matmul(void *out, dnnl_data_type_t ot, const void *a, dnnl_data_type_t at, const void *w,
                      dnnl_data_type_t wt, const float *bias, const float *scales, size_t M, size_t K, size_t N,
                      const_dnnl_primitive_attr_t attr) {
    dnnl_engine_t engine = scfm__dnnl_engine();
    if (!engine) return 0;
    dnnl_memory_desc_t amd, wmd, bmd, cmd, smd;
    dnnl_dims_t ad = {(dnnl_dim_t)M, (dnnl_dim_t)K}, as = {(dnnl_dim_t)K, 1};
    dnnl_dims_t wd = {(dnnl_dim_t)K, (dnnl_dim_t)N}, ws = {1, (dnnl_dim_t)K};
    dnnl_dims_t cd = {(dnnl_dim_t)M, (dnnl_dim_t)N}, cs = {(dnnl_dim_t)N, 1};
    dnnl_dims_t bd = {1, (dnnl_dim_t)N}, bs = {(dnnl_dim_t)N, 1};
    dnnl_dims_t sd = {(dnnl_dim_t)N}, ss = {1};
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t mem[5] = {NULL, NULL, NULL, NULL, NULL};
    dnnl_stream_t stream = NULL;
    dnnl_matmul_desc_t desc;
    int ok = dnnl_memory_desc_init_by_strides(&amd, 2, ad, at, as) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&wmd, 2, wd, wt, ws) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&cmd, 2, cd, ot, cs) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_f32, bs) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&smd, 1, sd, dnnl_f32, ss) == dnnl_success &&
             dnnl_matmul_desc_init(&desc, &amd, &wmd, bias ? &bmd : NULL, &cmd) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&prim, pd) == dnnl_success &&
             dnnl_memory_create(&mem[0], &amd, engine, (void *)a) == dnnl_success &&
             dnnl_memory_create(&mem[1], &wmd, engine, (void *)w) == dnnl_success &&
             dnnl_memory_create(&mem[2], &cmd, engine, out) == dnnl_success &&
             (!bias || dnnl_memory_create(&mem[3], &bmd, engine, (void *)bias) == dnnl_success) &&
             (!scales || dnnl_memory_create(&mem[4], &smd, engine, (void *)scales) == dnnl_success) &&
             dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]}};
        int n = 3;
        if (bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mem[3]};
        if (scales) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, mem[4]};
        ok = dnnl_primitive_execute(prim, stream, n, args) == dnnl_success && dnnl_stream_wait(stream) == dnnl_success;
    }
    if (stream) dnnl_stream_destroy(stream);
    for (int i = 0; i < 5; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    scfm_vector_state_clean();
    return ok;
}
#endif
