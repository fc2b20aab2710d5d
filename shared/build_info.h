/*
 * build_info.h: the version and commit every taskbus binary was built from.
 *
 * Owns: the answer to --version ("<program> <version> (<commit>)") and the
 * taskbus_build_info{service,version,commit} 1 gauge. Rules: the version is CMake's
 * project version; the commit is `git rev-parse --short HEAD` of the source tree taken at
 * build time (cmake/build_commit.cmake), "unknown" outside a git checkout (an image built
 * from a copy of the sources).
 */
#ifndef TASKBUS_SHARED_BUILD_INFO_H
#define TASKBUS_SHARED_BUILD_INFO_H

#include <stdbool.h>
#include <stdio.h>

const char *build_info_version(void);
const char *build_info_commit(void);

/* Prints "<program> <version> (<commit>)\n" to out. */
void build_info_print(FILE *out, const char *program);

/* True when argv is exactly `<program> --version`. */
bool build_info_asked(int argc, char **argv);

/* Sets taskbus_build_info{service="<service>",version=...,commit=...} 1. */
void build_info_register(const char *service);

#endif
