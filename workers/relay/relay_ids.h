/*
 * relay_ids.h: the ids of the relay's batch in flight, as Postgres reads them.
 *
 * Owns: the arithmetic of an in-flight batch's ids (ascending outbox ids): how many ids
 * inside its range [ids[0], ids[n-1]] it does not hold (its holes), and the bigint[]
 * array literals of its ids (for the DELETE of published rows) and of its holes (for the
 * read that leaves out exactly the rows in flight). Rules: pure; the literals are
 * malloc'ed text the caller frees, NULL only when out of memory.
 */
#ifndef TASKBUS_WORKERS_RELAY_RELAY_IDS_H
#define TASKBUS_WORKERS_RELAY_RELAY_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Ids inside [ids[0], ids[n-1]] that ids[0..n) does not hold; 0 for n == 0. */
int64_t relay_ids_holes(const int64_t *ids, size_t n);

/* "{a,b,...}" of ids[0..n); NULL when out of memory. */
char *relay_ids_array(const int64_t *ids, size_t n);

/* "{h1,h2,...}" of the holes of ids[0..n) in ascending order; NULL when out of memory. */
char *relay_ids_holes_array(const int64_t *ids, size_t n);

#endif
