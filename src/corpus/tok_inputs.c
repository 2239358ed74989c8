/* scfm tokenize's inputs: folders of .h5ad / .loom files, unique cell IDs across inputs. */
#include "corpus/tok_inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scfm/core.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a > b && !strcmp(s + a - b, suf);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = scfm_malloc(a + b + 2);
    if (p) snprintf(p, a + b + 2, "%s%s%s", dir, a && dir[a - 1] == '/' ? "" : "/", name);
    return p;
}

static int push(char ***v, size_t *n, size_t *cap, char *s) {
    if (!s) return SCFM_ENOMEM;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        char **q = scfm_realloc(*v, c * sizeof *q);
        if (!q) { free(s); return SCFM_ENOMEM; }
        *v = q;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    return SCFM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The .h5ad / .loom files of a folder that is not a 10x folder (0 added: leave it as given). */
static int expand_dir(const char *dir, char ***v, size_t *n, size_t *cap, size_t *added) {
    *added = 0;
    char *m1 = join(dir, "matrix.mtx"), *m2 = join(dir, "matrix.mtx.gz");
    int tenx = m1 && m2 && (is_file(m1) || is_file(m2));
    free(m1);
    free(m2);
    if (!m1 || !m2) return SCFM_ENOMEM;
    if (tenx) return SCFM_OK;
    DIR *d = opendir(dir);
    if (!d) return scfm_error(SCFM_EIO, "%s: cannot read the folder: %s", dir, strerror(errno));
    size_t first = *n;
    int rc = SCFM_OK;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !(ends_with(de->d_name, ".h5ad") || ends_with(de->d_name, ".loom"))) continue;
        char *p = join(dir, de->d_name);
        if (p && !is_file(p)) { free(p); continue; }
        rc = push(v, n, cap, p);
    }
    closedir(d);
    if (!rc) {
        if (*n > first) qsort(*v + first, *n - first, sizeof **v, cmp_str);
        *added = *n - first;
    }
    return rc;
}

void scfm_tok_inputs_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

int scfm_tok_inputs_expand(const char *const *inputs, size_t n, char ***out, size_t *n_out) {
    char **v = NULL;
    size_t nv = 0, cap = 0;
    int rc = SCFM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t added = 0;
        if (is_dir(inputs[i])) rc = expand_dir(inputs[i], &v, &nv, &cap, &added);
        if (!rc && !added) rc = push(&v, &nv, &cap, scfm_strdup(inputs[i]));
    }
    if (rc) {
        scfm_tok_inputs_free(v, nv);
        v = NULL;
        nv = 0;
    }
    *out = v;
    *n_out = nv;
    return rc;
}

const char *scfm_tok_ids_unique(scfm_tok_ids *u, const char *id, size_t input) {
    if (!u->tab.cap && scfm_gn_tab_init(&u->tab, 1024)) return NULL;
    size_t *was = scfm_gn_tab_ref(&u->tab, id);
    if (!was || *was == input) { /* new, or repeated within its own input: as given */
        if (!was) {
            const char *s = scfm_gn_pool_add(&u->pool, id, strlen(id));
            if (!s || scfm_gn_tab_put(&u->tab, s, (int64_t)input, NULL) < 0) return NULL;
        }
        return id;
    }
    size_t need = strlen(id) + 48;
    if (need > u->cap) {
        char *b = scfm_realloc(u->buf, need);
        if (!b) return NULL;
        u->buf = b;
        u->cap = need;
    }
    snprintf(u->buf, u->cap, "%s-%zu", id, input);
    for (size_t k = 2; scfm_gn_tab_get(&u->tab, u->buf) >= 0; k++) snprintf(u->buf, u->cap, "%s-%zu-%zu", id, input, k);
    const char *s = scfm_gn_pool_add(&u->pool, u->buf, strlen(u->buf));
    if (!s || scfm_gn_tab_put(&u->tab, s, (int64_t)input, NULL) < 0) return NULL;
    u->n_renamed++;
    return s;
}

void scfm_tok_ids_free(scfm_tok_ids *u) {
    scfm_gn_tab_free(&u->tab);
    scfm_gn_pool_free(&u->pool);
    free(u->buf);
    memset(u, 0, sizeof *u);
}
