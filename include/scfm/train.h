/* Training: length-grouped sampler, masked-gene masking, packed batches, the training-state
 * file, MPI data parallelism and the pretraining loop (docs/computation.md section 6).
 *
 * Determinism. Every random choice is a function of (seed, what, index), never of the order
 * in which batches are processed or of the number of MPI ranks / threads:
 *  - the sampler's plan for epoch e is drawn from scfm_hash3(seed, SAMPLER, e);
 *  - the mask of a cell is drawn from scfm_hash3(seed, MASK, key) with key = (epoch, cell);
 * so a resumed run, or a run split over ranks, sees the same batches and the same masks.
 *
 * Return codes: functions returning int give SCFM_OK or a negative scfm_status with a
 * message in scfm_last_error(); constructors return NULL likewise (message set). */
#ifndef SCFM_TRAIN_H
#define SCFM_TRAIN_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/model.h"
#include "scfm/rng.h"

/* Streams for scfm_hash3 (documented so other loops can avoid reusing them). */
enum { SCFM_STREAM_SAMPLER = 0x5A4D, SCFM_STREAM_MASK = 0x4D41, SCFM_STREAM_SPLIT = 0x5350,
       SCFM_STREAM_DROPOUT = 0x4450 };

/* ======================================================================================
 * Length-grouped sampler
 * ======================================================================================
 * Per epoch: a seeded permutation of the cells is cut into mega-batches of
 * batch*mega_mult cells; each mega-batch is sorted by length (longest first, ties by
 * position in the cell list) and cut into batches of `batch` cells (the last batch of a
 * mega-batch may be smaller); then the order of all batches of the epoch is shuffled. Every
 * cell appears exactly once per epoch; cells in a batch have similar lengths, so packing a
 * batch (no padding at all) costs about what the longest cell costs. The number of batches
 * per epoch does not depend on the epoch. */
typedef struct scfm_sampler scfm_sampler;

/* cells[n]: the ids handed out (e.g. global corpus indices of the training split);
 * lens[n]: their lengths in tokens. batch >= 1, mega_mult >= 1 (Hugging Face uses 50).
 * Returns NULL: SCFM_EINVAL (n == 0, batch == 0, mega_mult == 0), SCFM_ENOMEM. */
scfm_sampler *scfm_sampler_new(const size_t *cells, const size_t *lens, size_t n, size_t batch,
                               size_t mega_mult, uint64_t seed);
void scfm_sampler_free(scfm_sampler *s);
size_t scfm_sampler_n_cells(const scfm_sampler *s);
/* Batches per epoch (the same for every epoch). */
size_t scfm_sampler_n_batches(const scfm_sampler *s);
/* Builds the plan of epoch `epoch` (cheap to call again with the same epoch). SCFM_OK. */
int scfm_sampler_set_epoch(scfm_sampler *s, uint64_t epoch);
uint64_t scfm_sampler_epoch(const scfm_sampler *s);
/* Batch b (0 <= b < n_batches) of the current epoch: *cells points at *n ids (owned by the
 * sampler, valid until the next set_epoch). SCFM_EINVAL when b is out of range. */
int scfm_sampler_batch(const scfm_sampler *s, size_t b, const size_t **cells, size_t *n);

/* ======================================================================================
 * Masking (BERT / Geneformer): each eligible token (not special, not pad) is selected with
 * probability mask_prob (independent Bernoulli draws); if none is selected, one eligible
 * token is picked uniformly, so every sequence with an eligible token has >= 1 target.
 * Each selected token becomes <mask> with probability mask_frac, a random non-special
 * token with probability random_frac, and stays unchanged otherwise. With values
 * (GeneCompass), the input value of every selected position becomes -1 and the original
 * value is the value target.
 * ====================================================================================== */
typedef struct {
    double mask_prob;        /* 0.15 */
    double mask_frac;        /* 0.8 */
    double random_frac;      /* 0.1 */
    int32_t mask_id;         /* <mask> token id */
    size_t vocab_size;
    const uint8_t *special;  /* [vocab_size]: 1 = special (never selected, never drawn) */
} scfm_mask_params;

/* Fills p with the defaults above. special must stay valid while p is used. */
void scfm_mask_params_init(scfm_mask_params *p, size_t vocab_size, int32_t mask_id,
                           const uint8_t *special);
/* SCFM_OK, or SCFM_EINVAL (probabilities outside [0,1], mask_frac + random_frac > 1,
 * mask_id out of range, no non-special token to draw from). */
int scfm_mask_params_check(const scfm_mask_params *p) SCFM_WUR;

/* Masks one sequence tokens[len] with the random stream (seed, key): writes out[len]
 * (may alias tokens), the selected positions (ascending, 0-based within the sequence) to
 * pos[], their original ids to labels[]; pos and labels need room for len entries.
 * values_in/values_out (optional, both or neither; may alias): values with -1 at the
 * selected positions that were replaced (<mask> or a random token; GeneCompass's rule:
 * positions left unchanged keep their value); value_labels (optional) gets the original
 * values of every selected position.
 * *n_sel receives the number selected (0 only if no token is eligible).
 * SCFM_EINVAL: a token id outside [0, vocab_size). */
int scfm_mask_sequence(const scfm_mask_params *p, const int32_t *tokens, size_t len,
                       uint64_t seed, uint64_t key, int32_t *out, size_t *pos, int32_t *labels,
                       const float *values_in, float *values_out, float *value_labels,
                       size_t *n_sel) SCFM_WUR;

/* Masking key of a cell in an epoch (so each epoch masks a cell differently). */
static inline uint64_t scfm_mask_key(uint64_t epoch, uint64_t cell) {
    return (epoch << 40) ^ cell;
}

/* A packed batch: sequences back to back, no padding (offs as in nn.h). */
typedef struct {
    size_t B, N;             /* sequences, packed rows (tokens) */
    size_t *offs;            /* [B+1] */
    int32_t *ids;            /* [N] model input ids (after masking) */
    int32_t *pos;            /* [N] position ids: 0..len-1 within each sequence */
    int has_values;          /* 1: values and value_labels are valid for this batch */
    float *values;           /* [N] input values (only when has_values) */
    size_t n_masked;         /* masked (target) positions */
    size_t *mrows;           /* [n_masked] packed row of each target, ascending */
    int32_t *labels;         /* [n_masked] original token ids */
    float *value_labels;     /* [n_masked] original values (only when has_values) */
    int32_t *species;        /* [B] species of each sequence (scfm_seq.species) */
    size_t cap_B, cap_N;     /* allocated capacities (internal) */
} scfm_mlm_batch;

/* One input sequence for scfm_mlm_batch_pack. */
typedef struct {
    const int32_t *tokens;
    const float *values;     /* NULL: no values */
    size_t len;
    uint64_t key;            /* masking key (scfm_mask_key) */
    int32_t species;         /* 0 human, 1 mouse, -1 unknown (GeneCompass) */
} scfm_seq;

/* Packs and masks seqs[n] into b (buffers grow as needed; zero-initialize b before first
 * use). Values are packed if every sequence has them (mixing is SCFM_EINVAL).
 * Returns SCFM_OK, SCFM_EINVAL (bad token id, empty sequence), SCFM_ENOMEM. */
int scfm_mlm_batch_pack(scfm_mlm_batch *b, const scfm_seq *seqs, size_t n, const scfm_mask_params *p,
                    uint64_t seed) SCFM_WUR;
void scfm_mlm_batch_free(scfm_mlm_batch *b);

/* ======================================================================================
 * Training-state file (state.bin, beside each checkpoint), little-endian:
 *   0   char[8] "SCFMTST1"       8  u32 version = 1       12 u32 header bytes = 128
 *   16  u64 step (optimizer updates done)
 *   24  u64 epoch                32 u64 batch_in_epoch (next sampler batch of that epoch)
 *   40  u64 rng[4] (xoshiro256** state)
 *   72  u64 config_hash          80 u64 n_params
 *   88  u64 tokens_seen          96 u64 cells_seen
 *   104 u64 data_hash (training split / corpora)   112 f64 elapsed seconds
 *   120 u32 flags (0)            124 u32 reserved (0)
 *   128 f32 m[n_params]          then f32 v[n_params]   (AdamW moments)
 *   end u32 CRC-32 (zlib) of every preceding byte
 * ====================================================================================== */
#define SCFM_STATE_MAGIC "SCFMTST1"
#define SCFM_STATE_VERSION 1

typedef struct {
    uint64_t step, epoch, batch_in_epoch;
    scfm_rng rng;
    uint64_t config_hash, data_hash;
    uint64_t tokens_seen, cells_seen;
    double elapsed;
    size_t n_params;
    float *m, *v;            /* [n_params] each; caller-owned */
} scfm_train_state;

/* Writes the state atomically (PATH.tmp.<pid>, then rename). SCFM_EIO, SCFM_EINVAL. */
int scfm_train_state_save(const char *path, const scfm_train_state *s) SCFM_WUR;
/* Reads PATH into s. The caller sets s->n_params, s->m, s->v (buffers to fill) and
 * s->config_hash (expected) first. Returns SCFM_OK; SCFM_EIO (missing/unreadable);
 * SCFM_EFORMAT (bad magic, unknown version, truncated, CRC mismatch); SCFM_EMISMATCH
 * (n_params or config hash differ from the expected ones: the message gives both). On
 * error s's buffers may be partly overwritten but its scalar fields are unchanged. */
int scfm_train_state_load(const char *path, scfm_train_state *s) SCFM_WUR;

/* 64-bit FNV-1a, used for config and data hashes (chainable: pass the previous hash). */
uint64_t scfm_hash_bytes(uint64_t h, const void *data, size_t n);
#define SCFM_HASH_INIT 0xcbf29ce484222325ull

/* ======================================================================================
 * Data parallelism (MPI). Compiled with SCFM_HAVE_MPI; MPI is initialized only when the
 * process was launched by mpirun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK set);
 * otherwise (or without MPI support) there is one rank and every call is a no-op.
 * ====================================================================================== */
/* SCFM_OK, or SCFM_EINVAL when launched under mpirun but built without MPI (size > 1). */
int scfm_dist_init(int *argc, char ***argv) SCFM_WUR;
void scfm_dist_finalize(void);
int scfm_dist_rank(void);
int scfm_dist_size(void);
int scfm_dist_active(void);          /* 1 if MPI was initialized */
/* In-place sums over all ranks (chunked past INT_MAX elements). SCFM_OK or SCFM_EIO. */
int scfm_dist_allreduce_f32(float *buf, size_t n) SCFM_WUR;
int scfm_dist_allreduce_f64(double *buf, size_t n) SCFM_WUR;
/* Copies root's bytes to every rank. SCFM_OK or SCFM_EIO. */
int scfm_dist_bcast(void *buf, size_t n, int root) SCFM_WUR;
int scfm_dist_barrier(void) SCFM_WUR;
/* Collective agreement on success: every rank passes its status; returns SCFM_OK if all
 * were SCFM_OK, else a failure on every rank: a failed rank keeps its own code and message,
 * the others get the lowest failed rank's code with the message "rank R failed". Lets every
 * rank stop together instead of hanging in the next collective. */
int scfm_dist_agree(int status);
/* Terminates every rank (MPI_Abort) when MPI is active; for tools/ only. Returns if not. */
void scfm_dist_abort(int code);

/* ======================================================================================
 * Pretraining (scfm pretrain): masked-gene modelling on one or more corpora.
 *
 * Data: the corpora are concatenated (global cell index = cells of corpus 0, then 1, ...);
 * they must share one vocabulary, which must be the model's (size and scfm_vocab_hash).
 * A cell is held out for validation iff scfm_hash3(seed, SPLIT, global index) falls below
 * val_fraction (a fixed split, independent of rank count and resume).
 * Batches: the sampler hands out global micro-batches of batch_size * ranks cells; rank r
 * trains on its slice r of each (cells [r*n/K, (r+1)*n/K)); grad_accum micro-batches make
 * one optimizer step. The loss of a step is the mean cross-entropy over ALL masked tokens
 * of the step (every micro-batch, every rank): gradients are summed (MPI_Allreduce on the
 * flat buffer) and divided by the global masked-token count, so K ranks with batch b
 * compute the same step as one process with batch K*b (up to float summation order).
 *
 * Run directory RUN (written by rank 0 only):
 *   config.json      model config (Hugging Face BertConfig + scfm_vocab_hash)
 *   pretrain.json    training settings, corpora (path, cells, vocabulary hash, settings),
 *                    scfm version and command line
 *   vocab.tsv        the corpora's vocabulary;  corpus-K.json  copy of each corpus.json
 *   log.jsonl        one JSON object per logged step ("type":"train") and per evaluation
 *                    ("type":"eval"; with the baseline fields when cfg.baseline)
 *   checkpoint-S/    config.json, model.safetensors (scfm_model_save), vocab.tsv,
 *                    state.bin (training-state file) after optimizer step S; each is
 *                    built as checkpoint-S.tmp.<pid> and renamed when complete
 *   latest           name of the newest complete checkpoint (written atomically, last)
 *   final            symlink to the checkpoint written at the end of training
 * Testing hook: with SCFM_FAULT_KILL_IN_CHECKPOINT=S in the environment the process kills
 * itself (SIGKILL) after writing checkpoint S's files, before the rename (see
 * tests/cli/pretrain_resume.sh).
 * ====================================================================================== */
typedef struct {
    size_t batch_size;       /* cells per rank per micro-batch (Geneformer V1: 12) */
    size_t grad_accum;       /* micro-batches per optimizer step (1) */
    long max_steps;          /* > 0: total optimizer steps; 0: from epochs */
    double epochs;           /* 3 (Geneformer V1) */
    long stop_at;            /* > 0: stop after this step (schedule unchanged; resumable) */
    double lr;               /* 1e-3 */
    scfm_sched schedule;     /* linear */
    long warmup_steps;       /* 10000 */
    double warmup_ratio;     /* > 0: warm-up = ratio * total steps (overrides warmup_steps) */
    double weight_decay;     /* 0.001 */
    double beta1, beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    double max_grad_norm;    /* 1.0 (0 = no clipping) */
    double mask_prob, mask_frac, random_frac; /* 0.15, 0.8, 0.1 */
    size_t mega_mult;        /* mega-batch = mega_mult * global micro-batch (50) */
    double val_fraction;     /* held-out share of cells (0.01) */
    size_t val_max_cells;    /* cells evaluated (a fixed seeded subset; 2000) */
    long eval_every;         /* steps between evaluations (500; 0 = only at the end) */
    long log_every;          /* steps between log.jsonl records (10) */
    long save_every;         /* steps between checkpoints (1000; 0 = only at the end) */
    size_t keep;             /* checkpoints kept (0 = all) */
    int truncate;            /* cut cells longer than max_position_embeddings (else error) */
    int baseline;            /* also evaluate the most-frequent-gene-per-position baseline */
    uint64_t seed;           /* 42: split, sampler, masks, dropout, initialisation */
} scfm_pretrain_config;

/* Geneformer V1 defaults (docs/computation.md section 6) as listed above. */
void scfm_pretrain_config_init(scfm_pretrain_config *c);
/* Sets field `key` (the names above, e.g. "lr", "schedule", "batch_size") from text.
 * Returns SCFM_OK, SCFM_ENOTFOUND (no such key), SCFM_EINVAL (bad value; message names
 * the key). */
int scfm_pretrain_config_set(scfm_pretrain_config *c, const char *key, const char *value) SCFM_WUR;
/* SCFM_OK or SCFM_EINVAL (a value out of range; the message names the field). */
int scfm_pretrain_config_validate(const scfm_pretrain_config *c) SCFM_WUR;
/* JSON object text of every field (malloc'ed). SCFM_OK or SCFM_ENOMEM. */
int scfm_pretrain_config_to_json(const scfm_pretrain_config *c, char **out) SCFM_WUR;
/* Reads the fields present in object j (others keep their values). SCFM_OK, SCFM_EFORMAT. */
int scfm_pretrain_config_from_json(scfm_pretrain_config *c, const scfm_json *j, const char *what) SCFM_WUR;

typedef struct {
    const char *const *corpora;  /* corpus directories */
    size_t n_corpora;
    const scfm_bert_config *model; /* architecture (ignored when init_checkpoint is set) */
    const char *init_checkpoint; /* optional: start from these weights (a model directory) */
    scfm_pretrain_config cfg;
    const char *run_dir;
    int resume;                  /* continue RUN from its latest checkpoint */
    int force;                   /* start afresh in a RUN that already holds a run */
    const char *command;         /* recorded in pretrain.json */
} scfm_pretrain_job;

typedef struct {
    long steps;                  /* optimizer steps done (total, including resumed ones) */
    long total_steps;            /* planned */
    double train_loss;           /* mean loss of the last logged window */
    double val_loss, val_top1, val_top10;   /* last evaluation (NaN if none) */
    double base_top1, base_top10;           /* baseline (NaN unless cfg.baseline) */
    uint64_t tokens;             /* tokens trained on (all ranks) */
    double seconds;
} scfm_pretrain_summary;

/* Runs (or resumes) pretraining. Every rank calls it (MPI). Fails before step 1 when the
 * corpora disagree on the vocabulary or it is not the model's (SCFM_EMISMATCH), when a
 * cell is longer than the model's positions without truncate (SCFM_EINVAL), when RUN
 * already holds a run and neither resume nor force is set (SCFM_EINVAL), and on a corrupt
 * or mismatched checkpoint / training state on resume (SCFM_EFORMAT / SCFM_EMISMATCH).
 * Other errors: SCFM_EIO, SCFM_ENOMEM. Progress goes to scfm_log (rank 0). */
int scfm_pretrain(const scfm_pretrain_job *job, scfm_pretrain_summary *out) SCFM_WUR;

/* For --resume: reads RUN/pretrain.json and RUN/config.json into job (cfg, corpora,
 * model; strings owned by *store, freed with scfm_pretrain_job_release). Returns SCFM_OK,
 * SCFM_EIO (no run there), SCFM_EFORMAT. */
typedef struct { void **owned; size_t n; scfm_bert_config model; } scfm_pretrain_store;
int scfm_pretrain_job_load(const char *run_dir, scfm_pretrain_job *job, scfm_pretrain_store *store) SCFM_WUR;
void scfm_pretrain_job_release(scfm_pretrain_store *store);

#endif
