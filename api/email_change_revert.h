/*
 * email_change_revert.h: undoing an address change the owner did not make: the link
 * mailed to the old address when a change completes (kind email_change_revert), redeemed
 * by POST /api/v1/auth/email-change/revert {token, new_password} (ROUTES_EMAIL_REVERT in
 * api/routes.h).
 *
 * Owns: the link's life (email_change_reverts, migration 0034: offered only to a verified
 * old address, 7 days, once, whatever the address became since; its old address reserved
 * while it is open) and what a revert writes.
 * Rules: the token exists only in the mail (the notifier makes it:
 * workers/notifier/notifier_links.h); a revert puts the old address back (verified: the
 * link reached it), sets the new password and follows the password-changed path (every
 * session and token ends at once, open reset links end, the password-changed mail goes to
 * the restored address), ends open address changes and the revert links of later changes
 * (not earlier ones: the intruder's revert of a change they made later must not close the
 * owner's), and writes taskbus.user.email_changed (back), all in one transaction. The old
 * address is reserved while the link is open, so the 409 of one taken meanwhile is a
 * defence only.
 */
#ifndef TASKBUS_API_EMAIL_CHANGE_REVERT_H
#define TASKBUS_API_EMAIL_CHANGE_REVERT_H

#include "api/auth_sessions.h"
#include "api/http_context.h"

/* Inside the completing transaction of a change of user_id from old_email to new_email:
 * stores the revert link's row and enqueues its mail to old_email. AUTH_OK or < 0. */
auth_status email_change_revert_offer(pg_conn *conn, const api_request_ctx *ctx,
                                      const char *user_id, const char *old_email,
                                      const char *new_email);

#endif
