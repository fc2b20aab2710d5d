/*
 * routes_tasks_write.c: placeholder route table, filled in by its owner (see api/routes.h).
 */
#include "api/routes.h"

const api_route ROUTES_TASKS_WRITE[] = {{NULL, NULL, NULL, 0}};
