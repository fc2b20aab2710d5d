/*
 * notification.h: enqueueing an e-mail notification through the outbox.
 *
 * Owns: the message on the `notifications` topic (docs/decisions.md, "Notifications and
 * e-mail"): {notification_id (UUIDv7), kind, user_id, to, data, created_at}, keyed by
 * user id, plus "id" (equal to notification_id) because outbox_add takes the outbox
 * event id from "id". Schema: schemas/notifications/notification.json.
 * Rules: call inside the caller's open transaction, so the notification commits with the
 * fact it announces (registration, password change, reminder, report, webhook); the relay
 * publishes it after the commit and taskbus-notifier sends it at most once per id
 * (it records sent ids in sent_notifications).
 */
#ifndef TASKBUS_SHARED_NOTIFICATION_H
#define TASKBUS_SHARED_NOTIFICATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shared/pg_pool.h"

/* Kinds (each has workers/notifier/templates/<kind>.txt and .html):
 *   "welcome"           data: {verify_url} (written before migration 0035; since,
 *                      welcome_verified is sent instead)
 *   "password_changed"  data: {}
 *   "due_soon"          data: {task_id, title, due_at}
 *   "report_ready"      data: {report_id, download_path}
 *   "webhook_disabled"  data: {webhook_id, url, reason}
 *   "project_invitation" data: {project_id, project_name, invitation_id, role,
 *                       inviter_name, invitations_url}; user_id is the inviter's (the
 *                       invitee may have no account yet)
 *   "project_role_changed" data: {project_id, project_name, role, actor_name}
 *   "project_removed"  data: {project_id, project_name, actor_name}; both to the member
 *                       whose membership an owner changed (user_id is theirs)
 *   "task_assigned"    data: {task_id, title, project_id, project_name, actor_name}; to
 *                       the member someone else assigned a task to (user_id is theirs)
 *   "verify_email"     data: {verify_url}; a new verification link the user asked for
 *   "password_reset"   data: {reset_id}; a reset link valid 1 hour: the notifier makes the
 *                      token, writes its hash into the password_resets row reset_id and
 *                      mails it as reset_url (<public url>NOTIFICATION_RESET_PAGE?token=),
 *                      so the token is only in the mail (workers/notifier/notifier_links.h;
 *                      a message from before migration 0033 carries {reset_url} itself)
 *   "email_change"     data: {confirm_url}; to the new address of an e-mail change (a page
 *                      that posts the token to /api/v1/auth/email-change/confirm)
 *   "email_in_use"     no data; to a new address that is another account's (nothing changed)
 *   "email_changed"    no data; to the old address once the change is complete (written
 *                      before migration 0034; since, email_change_revert is sent instead)
 *   "email_change_started" no data; to the account's address when a change starts
 *   "email_change_revert" data: {revert_id}; to the old address once the change is
 *                      complete, with a link that undoes it: the notifier makes the token,
 *                      writes its hash into the email_change_reverts row revert_id and
 *                      mails it as revert_url (<public url>NOTIFICATION_REVERT_PAGE?token=)
 *   "register_confirm"  data: {registration_id}; to the address of a registration whose
 *                      address has no account: the notifier makes the token, writes its
 *                      hash into the pending_registrations row registration_id (user_id is
 *                      that row's id, the account's to be) and mails it as confirm_url
 *                      (<public url>NOTIFICATION_REGISTER_PAGE?token=)
 *   "account_exists"    no data; to an address that has an account when someone registers
 *                      it (nothing is created); user_id is that account's
 *   "welcome_verified"  no data; the welcome of an account created by its register_confirm
 *                      link (the address is verified: no link) */
extern const char *const NOTIFICATION_KINDS[]; /* every kind above, in that order */

/* The pages of the links the notifier makes, after TASKBUS_PUBLIC_URL. */
#define NOTIFICATION_RESET_PAGE "/reset-password"
#define NOTIFICATION_REVERT_PAGE "/revert-email-change"
#define NOTIFICATION_REGISTER_PAGE "/confirm-registration"
/* The page that lets the owner of a new address confirm it (the API makes this link, in
 * api/email_change.c). A link is never the API call itself: each page is the web client's,
 * which acts only when the user submits, so a mail scanner that opens links completes
 * nothing. */
#define NOTIFICATION_EMAIL_CHANGE_PAGE "/confirm-email-change"
extern const size_t NOTIFICATION_KINDS_COUNT;
bool notification_kind_is_valid(const char *kind);

/* Builds the message (new reference) for kind, user_id (a UUID), to (the e-mail
 * address) and data (an object, borrowed; NULL means {}). NULL with err when an argument
 * is missing or invalid or memory runs out. */
json_t *notification_build(const char *kind, const char *user_id, const char *to,
                           const json_t *data, char *err, size_t errlen);

/* Builds the message and writes it to the outbox for NOTIFICATIONS_TOPIC, keyed by
 * user_id, inside the open transaction on conn; request_id and traceparent (each may be
 * NULL) travel as the Kafka headers of those names. 0, or -1 with err (the caller rolls back). */
int notification_enqueue(pg_conn *conn, const char *kind, const char *user_id, const char *to,
                         const json_t *data, const char *request_id, const char *traceparent,
                         char *err, size_t errlen);

#endif
