/* placeholder (readers helper, in progress) */
#include "io_internal.h"
int io_open_loom(scfm_reader *r, const scfm_reader_opts *o) {
    (void)r;
    return scfm_error(SCFM_EINVAL, "%s: this format is not implemented yet", o->path);
}
