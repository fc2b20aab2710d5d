/*
 * build_info.c: the version and commit of this build (see build_info.h).
 *
 * Owns: nothing mutable. TASKBUS_VERSION comes from CMake (project version); the commit
 * from the generated header taskbus_build_commit.h, which cmake/build_commit.cmake
 * rewrites only when the commit changed (so only this file recompiles); without that
 * header (another build of these sources) the commit is "unknown".
 */
#include "shared/build_info.h"

#include <string.h>

#include "shared/metrics.h"
/* The generated header exists in the main build; a build that does not make it (the fuzz
 * targets of tests/fuzz) reports the commit "unknown". */
#if defined(__has_include)
#if __has_include("taskbus_build_commit.h")
#include "taskbus_build_commit.h"
#endif
#endif

#ifndef TASKBUS_VERSION
#define TASKBUS_VERSION "unknown"
#endif
#ifndef TASKBUS_COMMIT
#define TASKBUS_COMMIT "unknown"
#endif

const char *build_info_version(void) {
    return TASKBUS_VERSION;
}

const char *build_info_commit(void) {
    return TASKBUS_COMMIT;
}

void build_info_print(FILE *out, const char *program) {
    fprintf(out, "%s %s (%s)\n", program != NULL ? program : "taskbus", TASKBUS_VERSION,
            TASKBUS_COMMIT);
}

bool build_info_asked(int argc, char **argv) {
    return argc == 2 && strcmp(argv[1], "--version") == 0;
}

void build_info_register(const char *service) {
    char labels[256];
    /* service, version and commit are [a-z0-9.-]: nothing to escape. */
    int n = snprintf(labels, sizeof labels, "service=\"%s\",version=\"%s\",commit=\"%s\"",
                     service != NULL ? service : "unknown", TASKBUS_VERSION, TASKBUS_COMMIT);
    if (n < 0 || (size_t)n >= sizeof labels) {
        return;
    }
    metrics_gauge_set("taskbus_build_info",
                      "Always 1; the labels name the service, its version and the git commit it "
                      "was built from.",
                      labels, 1);
}
