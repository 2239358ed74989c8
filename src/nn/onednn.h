/* Private to src/nn: the one oneDNN CPU engine that scfm's oneDNN primitives run on (bf16.c
 * and int8.c), created at the first call; NULL when oneDNN cannot create it. */
#ifndef SCFM_NN_ONEDNN_H
#define SCFM_NN_ONEDNN_H
#include <dnnl.h>

dnnl_engine_t scfm__dnnl_engine(void);
#endif
