/*
 * recurrence.h: a recurring task's rule (issue 14; docs/decisions.md "Issue 14" /
 * "Recurring tasks (slice 2)").
 *
 * Owns: the RFC 5545 RRULE subset taskbus accepts (FREQ=DAILY|WEEKLY|MONTHLY|YEARLY,
 * INTERVAL, BYDAY, BYMONTHDAY, COUNT, UNTIL), its check (each refusal names the part), and
 * the next occurrence after a due time in an IANA time zone. Rules: the time zone
 * arithmetic and the rule's expansion are libical's (Debian's libical3, which reads the
 * system's zoneinfo), never a table of ours; a zone is a name of libical's built-in table
 * (the tz database's zone.tab) or UTC; an occurrence keeps the local wall-clock time of
 * the one before it, across daylight-saving changes (a time a change skips is resolved by
 * libical, and the series goes on from there); COUNT counts the occurrences left
 * including the current one, so the next occurrence's rule carries COUNT - 1 and a rule
 * with COUNT=1 has no next; the subset admits no rule that can never occur (MONTHLY
 * ordinals -5..5, no ordinal BYDAY with BYMONTHDAY, lists of at most 31 items). Functions
 * of their arguments (no I/O but libical's reading of zoneinfo files); thread-safe: every
 * libical call holds one process-wide lock, since libical's zone table is not.
 */
#ifndef TASKBUS_SHARED_RECURRENCE_H
#define TASKBUS_SHARED_RECURRENCE_H

#include <stddef.h>
#include <stdint.h>

#define RECURRENCE_RULE_MAX 200     /* characters of a rule */
#define RECURRENCE_TIME_ZONE_MAX 64 /* characters of an IANA name */

/* NULL when rule and time_zone are valid; else why not, with *part the part it is about
 * ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL", "rule" for the text as a
 * whole, or "time_zone"). */
const char *recurrence_check(const char *rule, const char *time_zone, const char **part);

/* The canonical text of a valid rule (upper case, no "RRULE:" prefix, parts in the order
 * FREQ, INTERVAL, BYDAY, BYMONTHDAY, COUNT, UNTIL) into out (at least
 * RECURRENCE_RULE_MAX + 1 bytes): 0, or -1 when the rule is not valid. */
int recurrence_canonical(const char *rule, char *out, size_t outlen);

/* The occurrence after the one due at due_ms (Unix milliseconds) of a valid rule in
 * time_zone: 1 with *next_ms and next_rule (the canonical rule text for that occurrence:
 * COUNT lowered by one; next_rule_len at least RECURRENCE_RULE_MAX + 1), 0 when the
 * series has ended (COUNT=1, or the next one would fall after UNTIL), -1 when the rule or
 * the zone is not valid. */
int recurrence_next(const char *rule, const char *time_zone, int64_t due_ms, int64_t *next_ms,
                    char *next_rule, size_t next_rule_len);

#endif
