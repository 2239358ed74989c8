/* GeneCompass (Yang et al., Cell Research 2024) on top of the BERT encoder: the knowledge-
 * informed input fusion, the species row and the value head (model.h describes the maths).
 *
 * Shapes: NG = gene rows of the batch (the input's ids), N = encoder rows (NG + B with the
 * species row), H hidden, W = H * (1 + priors) + use_values fusion width, D prior width,
 * M masked rows. The fusion runs at gene-row level; the species rows are inserted into
 * hidden[0] after the embedding LayerNorm and dropout, as GeneCompass does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define CAT_LN_EPS 1e-5f /* nn.LayerNorm's default, not BERT's 1e-12 */

/* ---- buffers ---------------------------------------------------------------------------- */
int scfm__gc_buffers_alloc(scfm_model *m) {
    const scfm_genecompass_config *g = &m->cfg.genecompass;
    size_t V = m->cfg.vocab_size, D = g->prior_dim, VD;
    m->gc.alpha = 1.0f;
    if (!scfm_gc_n_priors(g)) return SCFM_OK;
    if (scfm_mul_size(V, D, &VD)) return scfm_error(SCFM_ENOMEM, "prior tables too large");
    for (int k = 0; k < SCFM_N_PRIORS; k++) {
        if (!g->use_prior[k]) continue;
        if (!(m->gc.knowledge[k] = scfm_calloc(VD, sizeof(float))))
            return scfm_error(SCFM_ENOMEM, "cannot allocate the %s prior table (%zu x %zu)", scfm_prior_name(k), V, D);
    }
    if (!(m->gc.homologous_index = scfm_malloc(V * sizeof(int64_t)))) return SCFM_ENOMEM;
    for (size_t i = 0; i < V; i++) m->gc.homologous_index[i] = (int64_t)i;
    return SCFM_OK;
}

void scfm__gc_buffers_free(scfm_model *m) {
    for (int k = 0; k < SCFM_N_PRIORS; k++) free(m->gc.knowledge[k]);
    free(m->gc.homologous_index);
    memset(&m->gc, 0, sizeof m->gc);
}

int scfm_model_set_prior(scfm_model *m, int k, const float *table, size_t rows, size_t width) {
    const scfm_genecompass_config *g = &m->cfg.genecompass;
    if (!g->enabled || k < 0 || k >= SCFM_N_PRIORS || !g->use_prior[k] || !m->gc.knowledge[k])
        return scfm_error(SCFM_EINVAL, "the model does not use the %s prior", scfm_prior_name(k) ? scfm_prior_name(k) : "?");
    if (rows != m->cfg.vocab_size || width != g->prior_dim)
        return scfm_error(SCFM_EMISMATCH, "%s prior table is %zu x %zu but the model needs %zu x %zu",
                          scfm_prior_name(k), rows, width, m->cfg.vocab_size, g->prior_dim);
    for (size_t i = 0; i < rows * width; i++)
        if (!isfinite(table[i]))
            return scfm_error(SCFM_EDATA, "%s prior table: non-finite value at row %zu", scfm_prior_name(k), i / width);
    memcpy(m->gc.knowledge[k], table, rows * width * sizeof *table);
    return SCFM_OK;
}

int scfm_model_set_homologs(scfm_model *m, const int64_t *index, size_t n) {
    if (!m->gc.homologous_index)
        return scfm_error(SCFM_EINVAL, "the model has no homologous_index (no prior table is on)");
    if (n != m->cfg.vocab_size)
        return scfm_error(SCFM_EMISMATCH, "homolog map has %zu entries, the vocabulary %zu", n, m->cfg.vocab_size);
    for (size_t i = 0; i < n; i++)
        if (index[i] < 0 || (size_t)index[i] >= n)
            return scfm_error(SCFM_EINVAL, "homolog map: entry %zu = %lld outside the vocabulary", i, (long long)index[i]);
    memcpy(m->gc.homologous_index, index, n * sizeof *index);
    return SCFM_OK;
}

/* ---- batch checks ----------------------------------------------------------------------- */
int scfm__gc_check_batch(const scfm_model *m, const scfm_bert_input *b) {
    const scfm_genecompass_config *g = &m->cfg.genecompass;
    size_t N = b->offs[b->B];
    if (!g->enabled) {
        if (b->values || b->species || b->mlm_values)
            return scfm_error(SCFM_EINVAL, "input: values/species given to a model without GeneCompass parts");
        return SCFM_OK;
    }
    if (g->use_values && !b->values)
        return scfm_error(SCFM_EINVAL, "input: the model uses expression values (use_values) but the batch has none");
    for (size_t i = 0; b->values && i < N; i++)
        if (!isfinite(b->values[i]))
            return scfm_error(SCFM_EINVAL, "input: value at row %zu is not finite", i);
    if (scfm_gc_needs_species(g) && !b->species)
        return scfm_error(SCFM_EINVAL, "input: the model needs each cell's species (species row or prior look-ups)");
    for (size_t s = 0; b->species && s < b->B; s++)
        if (b->species[s] < 0 || (size_t)b->species[s] >= g->n_species)
            return scfm_error(SCFM_EINVAL, "input: species %d of sequence %zu outside [0, %zu)", (int)b->species[s], s,
                              g->n_species);
    if (b->mlm_values) {
        if (m->head != SCFM_HEAD_MLM) return scfm_error(SCFM_EINVAL, "input: value targets need the MLM head");
        for (size_t i = 0; i < b->n_mlm; i++)
            if (!isfinite(b->mlm_values[i]))
                return scfm_error(SCFM_EINVAL, "input: value target %zu is not finite", i);
    }
    return SCFM_OK;
}

/* ---- activations ------------------------------------------------------------------------ */
void scfm__gc_acts_free(scfm_gc_acts *g, size_t L) {
    scfm_free(g->block);
    if (g->hid)
        for (size_t l = 0; l <= L; l++) free(g->hid[l]);
    free(g->hid);
    free(g->gids);
    memset(g, 0, sizeof *g);
}

int scfm__gc_acts_ensure(scfm_model *m, size_t NG, size_t M) {
    scfm_gc_acts *g = &m->acts->gc;
    const scfm_bert_config *c = &m->cfg;
    size_t H = c->hidden_size, W = scfm_gc_fusion_width(&c->genecompass, H), D = c->genecompass.prior_dim;
    size_t L = c->num_hidden_layers;
    if (!g->hid && !(g->hid = scfm_calloc(L + 1, sizeof *g->hid))) return SCFM_ENOMEM;
    for (size_t l = 0; l <= L; l++) { free(g->hid[l]); g->hid[l] = NULL; }
    if (g->block && NG <= g->cap_NG && M <= g->cap_M) return SCFM_OK;
    NG = NG > g->cap_NG ? NG : g->cap_NG;
    M = M > g->cap_M ? M : g->cap_M;
    scfm_free(g->block);
    free(g->gids);
    g->block = NULL;
    size_t NH, NW, ND, MH, tot = 0;
    if (scfm_mul_size(NG, H, &NH) || scfm_mul_size(NG, W, &NW) || scfm_mul_size(NG, D ? D : 1, &ND) ||
        scfm_mul_size(M ? M : 1, H, &MH))
        return scfm_error(SCFM_ENOMEM, "GeneCompass activations too large");
    /* x, dx: NW; z zl za e g0 pk hl d1 d2 d3: 10 NH; kg: ND; vt vta vtl dv1..3: 6 MH; per-row scalars */
    size_t parts[] = {NW, NW, NH, NH, NH, NH, NH, NH, NH, NH, NH, NH, ND, MH, MH, MH, MH, MH, MH,
                      NG, NG, M + 1, M + 1, M + 1};
    size_t off[sizeof parts / sizeof *parts];
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        off[i] = tot;
        size_t p = (parts[i] + 15) / 16 * 16;
        if (scfm_add_size(tot, p, &tot)) return scfm_error(SCFM_ENOMEM, "GeneCompass activations too large");
    }
    size_t bytes;
    if (scfm_mul_size(tot, sizeof(float), &bytes)) return scfm_error(SCFM_ENOMEM, "GeneCompass activations too large");
    if (!(g->block = scfm_alloc_aligned(bytes)) || !(g->gids = scfm_malloc(NG * sizeof *g->gids))) {
        scfm_free(g->block);
        g->block = NULL;
        g->cap_NG = g->cap_M = 0;
        return scfm_error(SCFM_ENOMEM, "cannot allocate GeneCompass activations (%zu MiB)", bytes >> 20);
    }
    float *b = g->block;
    float **dst[] = {&g->x,  &g->dx,  &g->z,   &g->zl,  &g->za,    &g->e,     &g->g0,    &g->pk,    &g->hl,
                     &g->d1, &g->d2,  &g->d3,  &g->kg,  &g->vt,    &g->vta,   &g->vtl,   &g->dv1,   &g->dv2,
                     &g->dv3, &g->zmean, &g->zrstd, &g->vmean, &g->vrstd, &g->vpred};
    _Static_assert(sizeof dst / sizeof *dst == sizeof parts / sizeof *parts, "one pointer per part");
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) *dst[i] = b + off[i];
    g->cap_NG = NG;
    g->cap_M = M;
    g->cap_W = W;
    return SCFM_OK;
}

/* ---- embedding forward ------------------------------------------------------------------ */
/* Sequence of each gene row and the prior look-up ids (homolog remap for species 1). */
static void prior_ids(scfm_model *m, const scfm_bert_input *in) {
    scfm_gc_acts *g = &m->acts->gc;
    const int64_t *hi = m->gc.homologous_index;
    for (size_t s = 0; s < in->B; s++) {
        int remap = hi && in->species && in->species[s] == 1;
        for (size_t i = in->offs[s]; i < in->offs[s + 1]; i++)
            g->gids[i] = remap ? (int32_t)hi[in->ids[i]] : in->ids[i];
    }
}

static void gather_prior(const scfm_model *m, int k, float *kg, const int32_t *gids, size_t NG) {
    size_t D = m->cfg.genecompass.prior_dim;
    const float *K = m->gc.knowledge[k];
    for (size_t i = 0; i < NG; i++) memcpy(kg + i * D, K + (size_t)gids[i] * D, D * sizeof *kg);
}

void scfm__gc_embed_forward(scfm_model *m, const scfm_bert_input *in, const int32_t *pos, int train, uint64_t seed) {
    scfm_model_acts *a = m->acts;
    scfm_gc_acts *g = &a->gc;
    const scfm_bert_config *c = &m->cfg;
    const scfm_genecompass_config *gc = &c->genecompass;
    size_t NG = a->NG, H = c->hidden_size, W = scfm_gc_fusion_width(gc, H), D = gc->prior_dim;
    /* x = [word | value | alpha * P_k ...] */
    for (size_t i = 0; i < NG; i++) {
        memcpy(g->x + i * W, m->p.wte + (size_t)in->ids[i] * H, H * sizeof(float));
        if (gc->use_values) g->x[i * W + H] = in->values[i];
    }
    size_t col = H + (gc->use_values ? 1 : 0);
    prior_ids(m, in);
    for (int k = 0; k < SCFM_N_PRIORS; k++) {
        if (!gc->use_prior[k]) continue;
        gather_prior(m, k, g->kg, g->gids, NG);
        scfm_matmul_forward(g->pk, g->kg, m->p.prior_w[k], m->p.prior_b[k], NG, D, H);
        float al = m->gc.alpha;
        for (size_t i = 0; i < NG; i++)
            for (size_t j = 0; j < H; j++) g->x[i * W + col + j] = al * g->pk[i * H + j];
        col += H;
    }
    scfm_matmul_forward(g->z, g->x, m->p.cat_fc_w, m->p.cat_fc_b, NG, W, H);
    scfm_layernorm_forward(g->zl, g->zmean, g->zrstd, g->z, m->p.cat_ln_w, m->p.cat_ln_b, NG, H, CAT_LN_EPS);
    scfm_act_forward(g->za, g->zl, NG * H, SCFM_ACT_QUICK_GELU);
    scfm_matmul_forward(g->e, g->za, m->p.cat_proj_w, m->p.cat_proj_b, NG, H, H);
    /* + token type 0 + position, LayerNorm, dropout (rows of the gene sequence) */
    for (size_t i = 0; i < NG; i++) {
        float *e = a->emb + i * H;
        const float *p = m->p.wpe + (size_t)pos[i] * H;
        for (size_t j = 0; j < H; j++) e[j] = g->e[i * H + j] + m->p.wtt[j] + p[j];
    }
    float *out = a->erow ? g->g0 : a->hidden[0];
    scfm_layernorm_forward(out, a->emb_mean, a->emb_rstd, a->emb, m->p.emb_ln_w, m->p.emb_ln_b, NG, H,
                           c->layer_norm_eps);
    if (train && c->hidden_dropout_prob > 0)
        scfm_dropout_forward(out, out, NG * H, c->hidden_dropout_prob, seed, scfm__drop_stream(SCFM_DROP_EMB, 0));
    if (!a->erow) return;
    /* species row first, then the gene rows */
    for (size_t s = 0; s < in->B; s++)
        memcpy(a->hidden[0] + a->eoffs[s] * H, m->p.species_emb + (size_t)in->species[s] * H, H * sizeof(float));
    for (size_t i = 0; i < NG; i++) memcpy(a->hidden[0] + a->erow[i] * H, g->g0 + i * H, H * sizeof(float));
}

/* ---- embedding backward ----------------------------------------------------------------- */
void scfm__gc_embed_backward(scfm_model *m) {
    scfm_model_acts *a = m->acts;
    scfm_gc_acts *g = &a->gc;
    const scfm_bert_config *c = &m->cfg;
    const scfm_genecompass_config *gc = &c->genecompass;
    const scfm_bert_input *in = &a->in;
    size_t NG = a->NG, H = c->hidden_size, W = scfm_gc_fusion_width(gc, H), D = gc->prior_dim;
    const float *dg0 = a->d_out;
    if (a->erow) { /* split the species rows off */
        for (size_t s = 0; s < in->B; s++) {
            float *gs = m->g.species_emb + (size_t)in->species[s] * H;
            const float *d = a->d_out + a->eoffs[s] * H;
            for (size_t j = 0; j < H; j++) gs[j] += d[j];
        }
        for (size_t i = 0; i < NG; i++) memcpy(g->d3 + i * H, a->d_out + a->erow[i] * H, H * sizeof(float));
        dg0 = g->d3;
    }
    float *dln = g->d1, *demb = g->d2;
    memset(dln, 0, NG * H * sizeof *dln);
    scfm_dropout_backward(dln, dg0, NG * H, c->hidden_dropout_prob, a->seed, scfm__drop_stream(SCFM_DROP_EMB, 0));
    memset(demb, 0, NG * H * sizeof *demb);
    scfm_layernorm_backward(demb, m->g.emb_ln_w, m->g.emb_ln_b, dln, a->emb, m->p.emb_ln_w, a->emb_mean, a->emb_rstd,
                            NG, H);
    const int32_t *pos = in->pos ? in->pos : a->pos;
    scfm_embedding_backward(NULL, m->g.wpe, m->g.wtt, demb, in->ids, pos, NG, H, c->pad_token_id);
    /* e = cat_proj(za): demb is de */
    float *dza = g->d1, *dzl = g->d3, *dz = g->pk;
    memset(dza, 0, NG * H * sizeof *dza);
    scfm_matmul_backward(dza, m->g.cat_proj_w, m->g.cat_proj_b, demb, g->za, m->p.cat_proj_w, NG, H, H);
    memset(dzl, 0, NG * H * sizeof *dzl);
    scfm_act_backward(dzl, g->zl, dza, NG * H, SCFM_ACT_QUICK_GELU);
    memset(dz, 0, NG * H * sizeof *dz);
    scfm_layernorm_backward(dz, m->g.cat_ln_w, m->g.cat_ln_b, dzl, g->z, m->p.cat_ln_w, g->zmean, g->zrstd, NG, H);
    memset(g->dx, 0, NG * W * sizeof *g->dx);
    scfm_matmul_backward(g->dx, m->g.cat_fc_w, m->g.cat_fc_b, dz, g->x, m->p.cat_fc_w, NG, W, H);
    /* word part -> word embeddings (padding row skipped) */
    float *dword = g->d2;
    for (size_t i = 0; i < NG; i++) memcpy(dword + i * H, g->dx + i * W, H * sizeof(float));
    scfm_embedding_backward(m->g.wte, NULL, NULL, dword, in->ids, pos, NG, H, c->pad_token_id);
    /* prior parts -> their Linear layers (the tables are buffers: no gradient) */
    size_t col = H + (gc->use_values ? 1 : 0);
    float al = m->gc.alpha, *dp = g->d1;
    for (int k = 0; k < SCFM_N_PRIORS; k++) {
        if (!gc->use_prior[k]) continue;
        for (size_t i = 0; i < NG; i++)
            for (size_t j = 0; j < H; j++) dp[i * H + j] = al * g->dx[i * W + col + j];
        gather_prior(m, k, g->kg, g->gids, NG);
        scfm_matmul_backward(NULL, m->g.prior_w[k], m->g.prior_b[k], dp, g->kg, m->p.prior_w[k], NG, D, H);
        col += H;
    }
}

/* ---- value head ------------------------------------------------------------------------- */
float scfm__gc_value_forward(scfm_model *m, const scfm_bert_input *in, size_t *n_valid) {
    scfm_model_acts *a = m->acts;
    scfm_gc_acts *g = &a->gc;
    const scfm_bert_config *c = &m->cfg;
    size_t M = in->n_mlm, H = c->hidden_size;
    g->has_value_loss = 0;
    g->mse = 0.0f;
    if (M == 0) return 0.0f;
    scfm_matmul_forward(g->vt, a->hx, m->p.val_dense_w, m->p.val_dense_b, M, H, H);
    scfm_act_forward(g->vta, g->vt, M * H, c->hidden_act);
    scfm_layernorm_forward(g->vtl, g->vmean, g->vrstd, g->vta, m->p.val_ln_w, m->p.val_ln_b, M, H, c->layer_norm_eps);
    scfm_matmul_forward(g->vpred, g->vtl, m->p.val_dec_w, m->p.val_bias, M, H, 1);
    if (!in->mlm_values || !in->mlm_labels) return 0.0f;
    double s = 0.0;
    size_t n = 0;
    for (size_t i = 0; i < M; i++) {
        if (in->mlm_labels[i] < 0) continue;
        double d = (double)g->vpred[i] - in->mlm_values[i];
        s += d * d;
        n++;
    }
    *n_valid = n;
    g->has_value_loss = n > 0;
    g->mse = n ? (float)(s / (double)n) : 0.0f;
    return g->mse;
}

void scfm__gc_value_backward(scfm_model *m, float s, float *dx) {
    scfm_model_acts *a = m->acts;
    scfm_gc_acts *g = &a->gc;
    const scfm_bert_config *c = &m->cfg;
    const scfm_bert_input *in = &a->in;
    size_t M = in->n_mlm, H = c->hidden_size;
    if (!g->has_value_loss) return;
    float w = c->genecompass.value_loss_weight;
    float *dpred = g->vpred; /* overwritten by its gradient, as the logits are */
    for (size_t i = 0; i < M; i++)
        dpred[i] = in->mlm_labels[i] < 0 ? 0.0f : s * w * 2.0f * (g->vpred[i] - in->mlm_values[i]);
    memset(g->dv1, 0, M * H * sizeof *g->dv1);
    scfm_matmul_backward(g->dv1, m->g.val_dec_w, m->g.val_bias, dpred, g->vtl, m->p.val_dec_w, M, H, 1);
    memset(g->dv2, 0, M * H * sizeof *g->dv2);
    scfm_layernorm_backward(g->dv2, m->g.val_ln_w, m->g.val_ln_b, g->dv1, g->vta, m->p.val_ln_w, g->vmean, g->vrstd, M,
                            H);
    memset(g->dv3, 0, M * H * sizeof *g->dv3);
    scfm_act_backward(g->dv3, g->vt, g->dv2, M * H, c->hidden_act);
    scfm_matmul_backward(dx, m->g.val_dense_w, m->g.val_dense_b, g->dv3, a->hx, m->p.val_dense_w, M, H, H);
}

/* ---- accessors -------------------------------------------------------------------------- */
const float *scfm_model_values(const scfm_model *m) {
    const scfm_model_acts *a = m->acts;
    if (!a || !a->have_fwd || !m->cfg.genecompass.enabled || m->head != SCFM_HEAD_MLM || !a->in.n_mlm) return NULL;
    return a->gc.vpred;
}

void scfm_model_loss_parts(const scfm_model *m, float *ce, float *mse) {
    const scfm_model_acts *a = m->acts;
    int ok = a && a->have_fwd;
    if (ce) *ce = ok ? a->gc.ce : 0.0f;
    if (mse) *mse = ok ? a->gc.mse : 0.0f;
}
