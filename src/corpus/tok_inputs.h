/* scfm tokenize's inputs (internal to src/corpus): folders of .h5ad / .loom files expanded
 * into their files, and cell IDs made unique across inputs. */
#ifndef SCFM_CORPUS_TOK_INPUTS_H
#define SCFM_CORPUS_TOK_INPUTS_H
#include <stddef.h>

#include "genes/genes_internal.h"

/* inputs[n] as files: a folder without matrix.mtx[.gz] (not a 10x folder) that holds .h5ad
 * or .loom files stands for those files, in sorted (strcmp) order; anything else is kept as
 * given. *out (n_out strings, each malloc'ed) is freed with scfm_tok_inputs_free.
 * SCFM_EIO (a folder that cannot be read), SCFM_ENOMEM. */
int scfm_tok_inputs_expand(const char *const *inputs, size_t n, char ***out, size_t *n_out) SCFM_WUR;
void scfm_tok_inputs_free(char **v, size_t n);

/* Cell IDs seen so far, with the input that first used each. */
typedef struct {
    scfm_gn_tab tab;
    scfm_gn_pool pool;
    size_t n_renamed;
    char *buf;
    size_t cap;
} scfm_tok_ids;
/* The ID cell `id` of input `input` (0-based) gets: id itself, unless an earlier input used
 * it; then id-INPUT (id-INPUT-2, -3, ... if that is taken too), counted in n_renamed. The
 * result is valid until the next call. NULL on ENOMEM. */
const char *scfm_tok_ids_unique(scfm_tok_ids *u, const char *id, size_t input);
void scfm_tok_ids_free(scfm_tok_ids *u);

#endif
