/*
 * relay_ids.c: the ids of the relay's batch in flight (see relay_ids.h).
 */
#include "workers/relay/relay_ids.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/strbuf.h"

int64_t relay_ids_holes(const int64_t *ids, size_t n) {
    return n == 0 ? 0 : ids[n - 1] - ids[0] + 1 - (int64_t)n;
}

/* Appends id to b, after a comma unless *first. */
static void put_id(strbuf *b, int64_t id, bool *first) {
    char num[24];
    snprintf(num, sizeof num, "%s%" PRId64, *first ? "" : ",", id);
    strbuf_puts(b, num);
    *first = false;
}

/* The closed literal of b, or NULL (freed) when b failed. */
static char *close_array(strbuf *b) {
    strbuf_puts(b, "}");
    if (b->failed) {
        free(b->data);
        return NULL;
    }
    return b->data;
}

char *relay_ids_array(const int64_t *ids, size_t n) {
    strbuf b = {0};
    strbuf_puts(&b, "{");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        put_id(&b, ids[i], &first);
    }
    return close_array(&b);
}

char *relay_ids_holes_array(const int64_t *ids, size_t n) {
    strbuf b = {0};
    strbuf_puts(&b, "{");
    bool first = true;
    for (size_t i = 1; i < n; i++) {
        for (int64_t id = ids[i - 1] + 1; id < ids[i]; id++) {
            put_id(&b, id, &first);
        }
    }
    return close_array(&b);
}
