/* The run directory of a pretraining run: settings files, checkpoints written as
 * tmp + rename with a "latest" pointer updated last, the JSONL log. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/pretrain_internal.h"

char *pt_path(const char *run, const char *name) {
    size_t n = strlen(run) + strlen(name) + 2;
    char *p = scfm_malloc(n);
    if (p) snprintf(p, n, "%s/%s", run, name);
    return p;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}


/* Step number of a directory entry named checkpoint-<digits>, or -1. */
static long checkpoint_step(const char *name) {
    if (strncmp(name, "checkpoint-", 11) != 0 || !name[11]) return -1;
    long s = 0;
    for (const char *p = name + 11; *p; p++) {
        if (*p < '0' || *p > '9' || s > 100000000000000L) return -1;
        s = s * 10 + (*p - '0');
    }
    return s;
}

int pt_run_prepare(const char *run, int force) {
    if (mkdir(run, 0777) != 0 && errno != EEXIST)
        return scfm_error(SCFM_EIO, "%s: cannot create the run directory: %s", run, strerror(errno));
    char *pj = pt_path(run, "pretrain.json");
    if (!pj) return SCFM_ENOMEM;
    int held = exists(pj);
    free(pj);
    if (held && !force)
        return scfm_error(SCFM_EINVAL, "%s: already holds a run (pretrain.json); continue it with --resume %s "
                          "or start afresh with --force", run, run);
    if (!held) return SCFM_OK;
    DIR *d = opendir(run); /* --force: remove the old run's files */
    if (!d) return scfm_error(SCFM_EIO, "%s: %s", run, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        char *p = pt_path(run, e->d_name);
        if (!p) break;
        if (checkpoint_step(e->d_name) >= 0 || !strncmp(e->d_name, "checkpoint-", 11)) scfm_remove_tree(p);
        else if (!strcmp(e->d_name, "latest") || !strcmp(e->d_name, "final") || !strcmp(e->d_name, "log.jsonl"))
            unlink(p);
        free(p);
    }
    closedir(d);
    return SCFM_OK;
}

int pt_run_write(const char *run, const char *name, const char *text) {
    char *p = pt_path(run, name);
    if (!p) return SCFM_ENOMEM;
    int rc = scfm_write_file_atomic(p, text, strlen(text));
    free(p);
    return rc;
}

int pt_run_copy(const char *run, const char *name, const char *src) {
    char *data;
    size_t len;
    int rc = scfm_read_file(src, &data, &len);
    if (rc) return rc;
    char *p = pt_path(run, name);
    rc = p ? scfm_write_file_atomic(p, data, len) : SCFM_ENOMEM;
    free(p);
    free(data);
    return rc;
}

int pt_run_latest(const char *run, char *buf, size_t cap) {
    char *p = pt_path(run, "latest"), *data = NULL;
    size_t len = 0;
    if (!p) return SCFM_ENOMEM;
    int rc = scfm_read_file(p, &data, &len);
    if (rc) {
        rc = scfm_error(SCFM_EIO, "%s: no complete checkpoint to resume from (%s missing)", run, p);
        free(p);
        return rc;
    }
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' ')) data[--len] = 0;
    if (checkpoint_step(data) < 0 || len >= cap)
        rc = scfm_error(SCFM_EFORMAT, "%s: does not name a checkpoint ('%.40s')", p, data);
    else
        memcpy(buf, data, len + 1);
    free(p);
    free(data);
    return rc;
}

/* Deletes all but the `keep` newest checkpoints other than `current`. */
static void prune(const char *run, size_t keep, long current) {
    if (keep == 0) return;
    long steps[4096];
    size_t n = 0;
    DIR *d = opendir(run);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (checkpoint_step(e->d_name) >= 0 && n < 4096) steps[n++] = checkpoint_step(e->d_name);
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) { /* keep the `keep` largest steps */
        size_t newer = 0;
        for (size_t j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer >= keep && steps[i] != current) {
            char name[64];
            snprintf(name, sizeof name, "checkpoint-%ld", steps[i]);
            char *p = pt_path(run, name);
            if (p && scfm_remove_tree(p) != 0) scfm_log(SCFM_LOG_WARN, "%s: could not remove old checkpoint", p);
            free(p);
        }
    }
}

/* Fills tmp dir: model, state, vocabulary. */
static int fill_checkpoint(const char *run, const char *tmp, const scfm_model *m, const scfm_train_state *st) {
    int rc = scfm_model_save(m, tmp);
    if (rc) return rc;
    char *sp = pt_path(tmp, "state.bin"), *vs = pt_path(run, "vocab.tsv");
    rc = sp && vs ? scfm_train_state_save(sp, st) : SCFM_ENOMEM;
    if (!rc) rc = pt_run_copy(tmp, "vocab.tsv", vs);
    free(sp);
    free(vs);
    return rc;
}


int pt_run_checkpoint(const char *run, long step, const scfm_model *m, const scfm_train_state *st, size_t keep) {
    char name[64], tname[96], latest[80];
    snprintf(name, sizeof name, "checkpoint-%ld", step);
    snprintf(tname, sizeof tname, "%s.tmp.%ld", name, (long)getpid());
    char *tmp = pt_path(run, tname), *final = pt_path(run, name);
    int rc = tmp && final ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && mkdir(tmp, 0777) != 0 && errno != EEXIST)
        rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (!rc) rc = fill_checkpoint(run, tmp, m, st);
    /* Fault injection for the tests: die (as a SIGKILL would) with the checkpoint written
     * but not yet installed. */
    const char *kill_at = getenv("SCFM_FAULT_KILL_IN_CHECKPOINT");
    if (!rc && kill_at && strtol(kill_at, NULL, 10) == step) raise(SIGKILL);
    if (!rc) rc = scfm_install_dir(tmp, final);
    if (!rc) {
        snprintf(latest, sizeof latest, "%s\n", name);
        rc = pt_run_write(run, "latest", latest);
    }
    if (rc && tmp) scfm_remove_tree(tmp);
    if (!rc) prune(run, keep, step);
    free(tmp);
    free(final);
    return rc;
}

int pt_run_final(const char *run, long step) {
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%ld", step);
    char *p = pt_path(run, "final");
    if (!p) return SCFM_ENOMEM;
    unlink(p);
    int rc = symlink(name, p) == 0 ? SCFM_OK : scfm_error(SCFM_EIO, "%s: cannot create link: %s", p, strerror(errno));
    free(p);
    return rc;
}

void pt_run_clean_tmp(const char *run) {
    DIR *d = opendir(run);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "checkpoint-", 11) != 0 || checkpoint_step(e->d_name) >= 0) continue;
        if (!strstr(e->d_name, ".tmp.") && !strstr(e->d_name, ".old.")) continue;
        char *p = pt_path(run, e->d_name);
        if (p) {
            scfm_log(SCFM_LOG_INFO, "removing %s (left by an interrupted run)", p);
            scfm_remove_tree(p);
        }
        free(p);
    }
    if (d) closedir(d);
}

/* Step of a log record ("step": N), or -1. */
static long record_step(const char *line) {
    const char *s = strstr(line, "\"step\":");
    return s ? strtol(s + 7, NULL, 10) : -1;
}

int pt_run_trim_log(const char *run, long step) {
    char *p = pt_path(run, "log.jsonl"), *data = NULL;
    size_t len = 0;
    if (!p) return SCFM_ENOMEM;
    if (scfm_read_file(p, &data, &len) != SCFM_OK) { /* no log yet */
        free(p);
        scfm_clear_error();
        return SCFM_OK;
    }
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && data[j] != '\n') j++;
        char save = data[j < len ? j : len];
        data[j < len ? j : len] = 0;
        long s = record_step(data + i);
        data[j < len ? j : len] = save;
        size_t n = j < len ? j + 1 - i : j - i;
        if (s >= 0 && s <= step && j < len) { /* keep complete records up to step */
            memmove(data + w, data + i, n);
            w += n;
        }
        i = j + 1;
    }
    int rc = scfm_write_file_atomic(p, data, w);
    free(p);
    free(data);
    return rc;
}

FILE *pt_run_open_log(const char *run) {
    char *p = pt_path(run, "log.jsonl");
    if (!p) return NULL;
    FILE *f = fopen(p, "a");
    if (!f) scfm_error(SCFM_EIO, "%s: cannot open: %s", p, strerror(errno));
    free(p);
    return f;
}
