/* Minimal test helpers: every CHECK counts; a test binary exits non-zero if any failed.
 * Usage: CHECK(cond, "fmt", ...); CHECK_CLOSE(a, b, rtol, atol, "what");  return TEST_END(); */
#ifndef SCFM_TESTUTIL_H
#define SCFM_TESTUTIL_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_checks, tu_failed;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        tu_checks++;                                                         \
        if (!(cond)) {                                                       \
            tu_failed++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, rtol, atol, ...)                                   \
    do {                                                                     \
        double tu_a = (double)(a), tu_b = (double)(b);                       \
        int tu_ok = isfinite(tu_a) && fabs(tu_a - tu_b) <= (atol) + (rtol)*fabs(tu_b); \
        CHECK(tu_ok, __VA_ARGS__);                                           \
        if (!tu_ok) fprintf(stderr, "     got %.9g want %.9g\n", tu_a, tu_b); \
    } while (0)

/* Compare arrays; counts as one check; reports the worst element. Returns max abs diff. */
static inline double tu_check_array(const float *got, const float *want, size_t n, double rtol,
                                    double atol, const char *what, const char *file, int line) {
    size_t worst = 0, bad = 0;
    double worst_excess = -1, maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double lim = atol + rtol * fabs((double)want[i]);
        if (!(d <= lim)) bad++;
        if (d > maxdiff || d != d) maxdiff = d;
        if (d - lim > worst_excess || d != d) { worst_excess = d - lim; worst = i; }
    }
    tu_checks++;
    if (bad) {
        tu_failed++;
        fprintf(stderr, "FAIL %s:%d: %s: %zu of %zu elements off (worst [%zu] got %.9g want %.9g)\n",
                file, line, what, bad, n, worst, (double)got[worst], (double)want[worst]);
    }
    return maxdiff;
}
#define CHECK_ARRAY(got, want, n, rtol, atol, what) \
    tu_check_array((got), (want), (n), (rtol), (atol), (what), __FILE__, __LINE__)

/* Skipping: a test whose data is absent (the team's ../shared/data) calls tu_skip with the
 * reason and runs what it can; tu_end then exits 77, which tests/run_tests.sh counts as
 * skipped (a failure under CI=true), unless a check failed (exit 1). */
static char tu_skip_reason[512];
static inline void tu_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tu_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tu_skip_reason, sizeof tu_skip_reason, fmt, ap);
    va_end(ap);
    printf("SKIP: %s\n", tu_skip_reason);
}

static inline int tu_end(const char *name) {
    printf("%s: %d checks, %d failed%s%s\n", name, tu_checks, tu_failed, tu_skip_reason[0] ? "; skipped: " : "",
           tu_skip_reason);
    return tu_failed ? 1 : tu_skip_reason[0] ? 77 : 0;
}
#define TEST_END() tu_end(__FILE__)

/* Directory of the shared data (../shared/data from the repository root), or NULL. */
static inline const char *tu_shared_data(void) {
    const char *e = getenv("SCFM_SHARED_DATA");
    return e ? e : "../shared/data";
}
#endif
