/*
 * sse_queue.c: a byte-bounded FIFO of sse_event copies (see sse_queue.h).
 * Rules: every push is all or nothing; an item owns its copy of the CloudEvent text.
 */
#include "api/sse_queue.h"

#include <stdlib.h>
#include <string.h>

struct sse_queue_item {
    sse_queue_item *next;
    size_t cost;
    sse_event ev;
};

void sse_queue_init(sse_queue *q, size_t max_bytes) {
    memset(q, 0, sizeof *q);
    q->max_bytes = max_bytes;
}

sse_queue_push_result sse_queue_push_copy(sse_queue *q, const sse_event *ev) {
    size_t dlen = ev->data != NULL ? strlen(ev->data) : 0;
    size_t cost = dlen + SSE_QUEUE_ITEM_OVERHEAD;
    if (cost > q->max_bytes || q->bytes > q->max_bytes - cost) {
        return SSE_QUEUE_FULL;
    }
    sse_queue_item *item = calloc(1, sizeof *item);
    if (item == NULL) {
        return SSE_QUEUE_NO_MEMORY;
    }
    item->ev = *ev;
    item->ev.data = malloc(dlen + 1);
    if (item->ev.data == NULL) {
        free(item);
        return SSE_QUEUE_NO_MEMORY;
    }
    if (dlen > 0) {
        memcpy(item->ev.data, ev->data, dlen);
    }
    item->ev.data[dlen] = '\0';
    item->cost = cost;
    if (q->tail != NULL) {
        q->tail->next = item;
    } else {
        q->head = item;
    }
    q->tail = item;
    q->count++;
    q->bytes += cost;
    return SSE_QUEUE_PUSHED;
}

bool sse_queue_pop(sse_queue *q, sse_event *out) {
    sse_queue_item *item = q->head;
    if (item == NULL) {
        return false;
    }
    q->head = item->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->count--;
    q->bytes -= item->cost;
    *out = item->ev;
    free(item);
    return true;
}

void sse_queue_clear(sse_queue *q) {
    sse_event ev;
    while (sse_queue_pop(q, &ev)) {
        sse_event_clear(&ev);
    }
}
