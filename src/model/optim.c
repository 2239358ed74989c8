/* AdamW over the parameter table (torch.optim.AdamW semantics), global grad-norm clipping
 * (torch.nn.utils.clip_grad_norm_) and the transformers learning-rate schedules. */
#include <math.h>
#include <string.h>

#include "model_internal.h"

void scfm_adamw_config_init(scfm_adamw_config *c) {
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->weight_decay = 0.0f;
}

int scfm_adamw_init(scfm_adamw *o, const scfm_model *m, const scfm_adamw_config *c) {
    memset(o, 0, sizeof *o);
    if (c) o->cfg = *c;
    else scfm_adamw_config_init(&o->cfg);
    size_t bytes;
    if (scfm_mul_size(m->n_params ? m->n_params : 16, sizeof(float), &bytes))
        return scfm_error(SCFM_ENOMEM, "optimizer state too large");
    o->m = scfm_alloc_aligned(bytes);
    o->v = scfm_alloc_aligned(bytes);
    if (!o->m || !o->v) {
        scfm_adamw_free(o);
        return SCFM_ENOMEM;
    }
    memset(o->m, 0, bytes);
    memset(o->v, 0, bytes);
    o->n = m->n_params;
    return SCFM_OK;
}

void scfm_adamw_free(scfm_adamw *o) {
    if (!o) return;
    scfm_free(o->m);
    scfm_free(o->v);
    o->m = o->v = NULL;
    o->n = 0;
}

int scfm_adamw_step(scfm_adamw *o, scfm_model *m, float lr) {
    if (!m->grads) return scfm_error(SCFM_EINVAL, "optimizer step: the model has no gradients");
    if (o->n != m->n_params || !o->m)
        return scfm_error(SCFM_EINVAL, "optimizer step: moments sized for %zu parameters, model has %zu", o->n,
                          m->n_params);
    o->step++;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const scfm_tensor *t = &m->tensors[i];
        if (!t->trainable) continue;
        size_t off = t->offset;
        scfm_adamw_update(m->params + off, m->grads + off, o->m + off, o->v + off, t->numel, lr, o->cfg.beta1,
                          o->cfg.beta2, o->cfg.eps, t->decay ? o->cfg.weight_decay : 0.0f, o->step);
    }
    return SCFM_OK;
}

double scfm_model_clip_grad_norm(scfm_model *m, double max_norm) {
    if (!m->grads) return 0.0;
    double ss = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].trainable) ss += scfm_sumsq(m->grads + m->tensors[i].offset, m->tensors[i].numel);
    double norm = sqrt(ss);
    if (max_norm > 0) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0)
            for (size_t i = 0; i < m->n_tensors; i++)
                if (m->tensors[i].trainable)
                    scfm_scale(m->grads + m->tensors[i].offset, m->tensors[i].numel, (float)coef);
    }
    return norm;
}

double scfm_lr_schedule(scfm_sched kind, double lr, long step, long warmup, long total) {
    if (step < 0) step = 0;
    if (kind != SCFM_SCHED_CONSTANT && step < warmup)
        return lr * (double)step / (double)(warmup > 1 ? warmup : 1);
    long span = total - warmup > 1 ? total - warmup : 1;
    double f;
    switch (kind) {
    case SCFM_SCHED_LINEAR:
        f = (double)(total - step) / (double)span;
        return lr * (f > 0 ? f : 0.0);
    case SCFM_SCHED_COSINE:
        f = 0.5 * (1.0 + cos(M_PI * (double)(step - warmup) / (double)span));
        return lr * (f > 0 ? f : 0.0);
    default:
        return lr;
    }
}

static const char *sched_names[] = {"constant", "constant_with_warmup", "linear", "cosine"};

int scfm_sched_from_name(const char *name, scfm_sched *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, sched_names[i])) { *out = (scfm_sched)i; return SCFM_OK; }
    return scfm_error(SCFM_EINVAL, "unknown LR schedule '%s' (constant, constant_with_warmup, linear, cosine)", name);
}

const char *scfm_sched_name(scfm_sched s) { return (unsigned)s < 4 ? sched_names[s] : "?"; }
