/*
 * json_text.h: JSON text written straight into a buffer, for hot paths that would
 * otherwise build a jansson tree only to dump it (the writer's journal of effects).
 *
 * Owns: the escaping of a JSON string literal. Rules: the input is valid UTF-8 (text that
 * came out of jansson or Postgres); `"`, `\` and the control characters below 0x20 are
 * escaped as RFC 8259 asks, every other byte is copied as it is, so jansson reads back
 * exactly the string that went in.
 */
#ifndef TASKBUS_SHARED_JSON_TEXT_H
#define TASKBUS_SHARED_JSON_TEXT_H

#include "shared/strbuf.h"

/* Appends s as a JSON string literal, quotes included; NULL appends null. */
void json_text_string(strbuf *b, const char *s);

#endif
