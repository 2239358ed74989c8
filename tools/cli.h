/* Shared helpers for the scfm subcommands (tools/ only: these print and exit codes). */
#ifndef SCFM_TOOLS_CLI_H
#define SCFM_TOOLS_CLI_H
#include "scfm/core.h"
#include "scfm/model.h"

/* Print "scfm <cmd>: <message from scfm_last_error()>" to stderr and return 1. */
int cli_fail(const char *cmd);
/* Print "scfm <cmd>: <formatted message>" to stderr and return 1 (or 2 for usage errors). */
int cli_errorf(const char *cmd, const char *fmt, ...) SCFM_PRINTF(2, 3);
int cli_usage_error(const char *cmd, const char *fmt, ...) SCFM_PRINTF(2, 3);
/* Option value parsing that reports "--opt: <problem>" via cli_usage_error and returns 0/2. */
int cli_long(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
int cli_double(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out);
/* The command line as one string (for provenance records); static buffer. */
const char *cli_cmdline(void);
/* Keep freed heap memory for reuse instead of returning it to the kernel (glibc: raise the
 * mmap and trim thresholds). Readers allocate and free per-file buffers of tens of MB; without
 * this each file faults its pages in again (measured: ~0.08 CPU s of 1 s on the human folders). */
void cli_keep_freed_memory(void);
/* Footer on success: version, command line, wall and CPU time, peak memory (stderr). */
void cli_report_done(void);
/* The end of every successful command: a one-line summary "scfm CMD: ..." on stdout (the
 * last line there), then the footer on stderr. */
void cli_done(const char *cmd, const char *fmt, ...) SCFM_PRINTF(2, 3);
/* --threads N (1 .. 4096): sets the OpenMP threads. 0, or 2 after a usage message. */
int cli_threads(const char *cmd, const char *opt, const char *val);
/* --precision fp32|bf16 (scfm embed, scfm perturb): cli_precision parses the value (0, or 2
 * after a usage message); cli_set_precision applies it to a loaded model (0, or 1 after the
 * library's message, which names the missing CPU features when bf16 is refused). */
int cli_precision(const char *cmd, const char *opt, const char *val, scfm_precision *out);
int cli_set_precision(const char *cmd, scfm_model *m, scfm_precision p);
/* --set KEY=VALUE for a model config (any config.json field). 0, or an exit code after a message. */
int cli_config_set(const char *cmd, scfm_bert_config *c, const char *key, const char *value);
/* Records in c the GRN prior table `table` (its content hash) and the network its report
 * (PREFIX.json beside PREFIX.tsv, from `scfm priors build grn`) names; warns when there is no
 * such report. 0, or non-zero after an error message (an unreadable table). */
int cli_grn_prior_record(const char *cmd, scfm_bert_config *c, const char *table);

#endif
