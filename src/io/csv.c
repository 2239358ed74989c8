/* placeholder (readers helper, in progress) */
#include "io_internal.h"
int io_open_csv(scfm_reader *r, const scfm_reader_opts *o, char delim) {
    (void)r;
    (void)delim;
    return scfm_error(SCFM_EINVAL, "%s: this format is not implemented yet", o->path);
}
