/* Pretraining settings: Geneformer V1 defaults (docs/computation.md section 6), key=value parsing with
 * range checks, JSON round trip, validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/train.h"
#include "testutil.h"

int main(void) {
    scfm_pretrain_config c, d;
    scfm_pretrain_config_init(&c);
    CHECK(c.lr == 1e-3 && c.schedule == SCFM_SCHED_LINEAR && c.warmup_steps == 10000 && c.weight_decay == 0.001 &&
              c.max_grad_norm == 1.0 && c.batch_size == 12 && c.epochs == 3 && c.beta1 == 0.9 && c.beta2 == 0.999 &&
              c.adam_eps == 1e-8 && c.mask_prob == 0.15 && c.mask_frac == 0.8 && c.random_frac == 0.1,
          "Geneformer V1 defaults");
    CHECK(scfm_pretrain_config_validate(&c) == SCFM_OK, "defaults valid");

    CHECK(scfm_pretrain_config_set(&c, "lr", "2.5e-4") == 0 && c.lr == 2.5e-4, "lr");
    CHECK(scfm_pretrain_config_set(&c, "schedule", "cosine") == 0 && c.schedule == SCFM_SCHED_COSINE, "schedule");
    CHECK(scfm_pretrain_config_set(&c, "batch_size", "18") == 0 && c.batch_size == 18, "batch_size");
    CHECK(scfm_pretrain_config_set(&c, "truncate", "true") == 0 && c.truncate == 1, "bool");
    CHECK(scfm_pretrain_config_set(&c, "seed", "123456789") == 0 && c.seed == 123456789u, "seed");
    CHECK(scfm_pretrain_config_set(&c, "warmup_ratio", "0.007") == 0 && c.warmup_ratio == 0.007, "ratio");

    CHECK(scfm_pretrain_config_set(&c, "learning_rate", "1") == SCFM_ENOTFOUND, "unknown key");
    CHECK(strstr(scfm_last_error(), "learning_rate") != NULL, "message names the key: %s", scfm_last_error());
    CHECK(scfm_pretrain_config_set(&c, "batch_size", "0") == SCFM_EINVAL, "batch_size 0");
    CHECK(scfm_pretrain_config_set(&c, "batch_size", "2.5") == SCFM_EINVAL, "fractional batch");
    CHECK(scfm_pretrain_config_set(&c, "lr", "abc") == SCFM_EINVAL, "not a number");
    CHECK(scfm_pretrain_config_set(&c, "lr", "nan") == SCFM_EINVAL, "NaN");
    CHECK(scfm_pretrain_config_set(&c, "mask_prob", "1.5") == SCFM_EINVAL, "probability > 1");
    CHECK(scfm_pretrain_config_set(&c, "schedule", "steep") == SCFM_EINVAL, "schedule name");
    CHECK(scfm_pretrain_config_set(&c, "truncate", "maybe") == SCFM_EINVAL, "bool");
    CHECK(scfm_pretrain_config_set(&c, "seed", "-1") == SCFM_EINVAL, "negative seed");
    CHECK(c.batch_size == 18 && c.lr == 2.5e-4, "failed sets leave values alone");

    char *txt = NULL;
    CHECK(scfm_pretrain_config_to_json(&c, &txt) == SCFM_OK, "to_json");
    scfm_json *j = txt ? scfm_json_parse(txt, strlen(txt), "settings") : NULL;
    CHECK(j != NULL, "JSON parses: %s", txt ? txt : "(null)");
    scfm_pretrain_config_init(&d);
    CHECK(j && scfm_pretrain_config_from_json(&d, j, "settings") == SCFM_OK, "from_json: %s", scfm_last_error());
    CHECK(memcmp(&c, &d, sizeof c) == 0, "JSON round trip");
    scfm_json_free(j);
    free(txt);
    const char *badj = "{\"lr\": \"fast\"}";
    j = scfm_json_parse(badj, strlen(badj), "x");
    CHECK(j && scfm_pretrain_config_from_json(&d, j, "x.json") == SCFM_EFORMAT, "wrong JSON type");
    CHECK(strstr(scfm_last_error(), "x.json") != NULL, "message names the file: %s", scfm_last_error());
    scfm_json_free(j);

    c.mask_frac = 0.95;
    CHECK(scfm_pretrain_config_validate(&c) == SCFM_EINVAL, "mask + random > 1");
    scfm_pretrain_config_init(&c);
    c.epochs = 0;
    CHECK(scfm_pretrain_config_validate(&c) == SCFM_EINVAL, "no length");
    c.max_steps = 10;
    CHECK(scfm_pretrain_config_validate(&c) == SCFM_OK, "max_steps alone");
    return TEST_END();
}
