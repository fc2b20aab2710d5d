/*
 * fuzz_if_match_prefer.c: libFuzzer target for the request headers that steer a task
 * write: If-Match / If-None-Match entity-tag lists (api/if_match.c) and Prefer: wait
 * (api/prefer.c), both over the list grammar of api/http_lists.c.
 *
 * Input: line 1 an If-Match value, line 2 a Prefer value. The task's current version is
 * the first decimal number in line 1 (so a seed like "\"7\"" meets version 7), else 7.
 * Invariants: Prefer gives 0..PREFER_WAIT_MAX_S; If-Match agrees with the strong list
 * comparison (a match under If-Match is a match of the list, "*" is ANY only for a bare
 * star); a strong match is also a weak one; the tag the server writes always matches
 * itself; an absent header is ABSENT.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api/if_match.h"
#include "api/prefer.h"
#include "fuzz_util.h"

static long long version_in(const char *text) {
    const char *p = text + strcspn(text, "0123456789");
    if (*p == '\0') {
        return 7;
    }
    errno = 0;
    long long v = strtoll(p, NULL, 10);
    return errno == ERANGE ? LLONG_MAX : v;
}

static bool bare_star(const char *h) {
    h += strspn(h, " \t");
    if (*h != '*') {
        return false;
    }
    h++;
    h += strspn(h, " \t");
    return *h == '\0';
}

static void check_if_match(const char *header) {
    long long version = version_in(header);
    char etag[IF_MATCH_ETAG_MAX];
    if_match_etag(version, etag, sizeof etag);
    FUZZ_CHECK(etag[0] == '"' && etag[strlen(etag) - 1] == '"');

    if_match_result r = if_match_evaluate(header, version);
    bool strong = if_match_etag_list_matches(header, etag, false);
    bool weak = if_match_etag_list_matches(header, etag, true);
    FUZZ_CHECK(r == IF_MATCH_ANY || r == IF_MATCH_MATCHED || r == IF_MATCH_FAILED);
    FUZZ_CHECK((r == IF_MATCH_ANY) == bare_star(header));
    FUZZ_CHECK((r != IF_MATCH_FAILED) == strong);
    FUZZ_CHECK(!strong || weak);

    /* A weak form of our own tag matches only the weak comparison. */
    char weak_tag[IF_MATCH_ETAG_MAX + 2] = "W/";
    strcat(weak_tag, etag);
    FUZZ_CHECK(if_match_etag_list_matches(etag, etag, false));
    FUZZ_CHECK(if_match_etag_list_matches(weak_tag, etag, true));
    FUZZ_CHECK(!if_match_etag_list_matches(weak_tag, etag, false));
    FUZZ_CHECK(if_match_evaluate(etag, version) == IF_MATCH_MATCHED);
    FUZZ_CHECK(if_match_evaluate(NULL, version) == IF_MATCH_ABSENT);
    FUZZ_CHECK(!if_match_etag_list_matches(NULL, etag, true));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size};
    char *if_match = fuzz_take_line(&in, NULL);
    char *prefer = fuzz_take_rest(&in, NULL);

    check_if_match(if_match);
    check_if_match(prefer);
    int wait = prefer_wait(prefer);
    FUZZ_CHECK(wait >= 0 && wait <= PREFER_WAIT_MAX_S);
    wait = prefer_wait(if_match);
    FUZZ_CHECK(wait >= 0 && wait <= PREFER_WAIT_MAX_S);

    free(prefer);
    free(if_match);
    return 0;
}
