/*
 * account_reauth.c: the password proved again by a signed-in user (see account_reauth.h).
 */
#include "api/account_reauth.h"

#include "api/auth_password.h"
#include "api/rate_limiter.h"

int account_reauth(api_request_ctx *ctx, const auth_user *user, const char *password) {
    if (api_limit_login_account(ctx, user->email) != 0)
        return -1;
    auth_password_result match = auth_password_verify(ctx->app->cfg, user->password_hash, password);
    if (match == AUTH_PASSWORD_MATCH)
        return 0;
    if (match == AUTH_PASSWORD_ERROR)
        auth_respond_failure(ctx, AUTH_INTERNAL);
    else
        api_respond_error(ctx, 403, "invalid-credentials", "current_password is wrong");
    return -1;
}
