/* Directories scfm writes (corpora, vocabularies, checkpoints, fine-tuning outputs): each is
 * built complete under a temporary name beside its destination and installed in one rename.
 * An existing destination (the caller has checked that replacing it is allowed) is exchanged
 * with the new one in one step (renameat2 RENAME_EXCHANGE), so a SIGKILL at any moment leaves
 * the old or the new directory whole under the destination's name; where the file system
 * cannot exchange, the old one is moved aside first (the name is then briefly absent, never
 * half-written). */
#include "scfm/core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st; (void)flag; (void)f;
    return remove(p) != 0 && errno != ENOENT;
}

int scfm_remove_tree(const char *dir) {
    if (access(dir, F_OK) != 0) return 0;
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int scfm_install_dir(const char *tmp, const char *dst) {
    if (rename(tmp, dst) == 0) return SCFM_OK; /* no destination, or an empty directory */
    if (errno != EEXIST && errno != ENOTEMPTY)
        return scfm_error(SCFM_EIO, "%s: cannot rename %s to it: %s", dst, tmp, strerror(errno));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_EXCHANGE) == 0) {
        if (scfm_remove_tree(tmp)) scfm_log(SCFM_LOG_WARN, "%s: cannot remove the replaced directory", tmp);
        return SCFM_OK;
    }
    size_t n = strlen(dst) + 32;
    char *old = scfm_malloc(n);
    if (!old) return SCFM_ENOMEM;
    snprintf(old, n, "%s.old.%ld", dst, (long)getpid());
    int rc = SCFM_OK;
    if (rename(dst, old) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot move aside: %s", dst, strerror(errno));
    else if (rename(tmp, dst) != 0) {
        rc = scfm_error(SCFM_EIO, "%s: cannot rename %s to it: %s", dst, tmp, strerror(errno));
        if (rename(old, dst) != 0) scfm_log(SCFM_LOG_WARN, "%s: the previous directory is left at %s", dst, old);
    } else if (scfm_remove_tree(old))
        scfm_log(SCFM_LOG_WARN, "%s: cannot remove the replaced directory", old);
    free(old);
    return rc;
}
