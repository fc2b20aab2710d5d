/*
 * routes_reports.c: placeholder route table, filled in by its owner (see api/routes.h).
 */
#include "api/routes.h"

const api_route ROUTES_REPORTS[] = {{NULL, NULL, NULL, 0}};
