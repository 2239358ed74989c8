/* Private to src/model: the heads (MLM, sequence and token classification). */
#ifndef SCFM_MODEL_HEADS_H
#define SCFM_MODEL_HEADS_H
#include "model_internal.h"

/* Runs the head on hidden[L] of the last encoder forward; computes logits and, when the
 * input has labels, the mean cross-entropy (returned; *n_valid = labelled rows). */
float scfm__head_forward(scfm_model *m, const scfm_bert_input *in, int train, uint64_t seed, size_t *n_valid);
/* 1 if the input carries labels for the model's head. */
int scfm__head_has_labels(const scfm_model *m, const scfm_bert_input *in);
/* Backward of the head with dL/dlogits scaled by `scale`; accumulates parameter grads and
 * adds dL/d(hidden[L]) into dh [N,H]. Overwrites the logits with their gradient. */
void scfm__head_backward(scfm_model *m, float scale, float *dh);
#endif
