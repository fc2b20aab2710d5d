/*
 * request_id.h: the X-Request-ID of a request.
 *
 * Owns: deciding whether a client's X-Request-ID may be reused (1-128 characters of
 * [A-Za-z0-9._:-], nothing else, so it is safe in logs, headers and Kafka headers) and
 * making a new UUIDv7 otherwise.
 */
#ifndef TASKBUS_API_REQUEST_ID_H
#define TASKBUS_API_REQUEST_ID_H

#include <stdbool.h>

#define REQUEST_ID_MAX_LEN 128

bool request_id_is_valid(const char *text);
/* Copies incoming into out when valid, else writes a new UUIDv7. out holds 129 bytes. */
void request_id_choose(const char *incoming, char out[REQUEST_ID_MAX_LEN + 1]);

#endif
