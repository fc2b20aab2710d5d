/*
 * auth_password.c: argon2id hashing behind a process-wide concurrency limit.
 *
 * Owns: the semaphore of TASKBUS_ARGON2_CONCURRENCY slots, the argon2 settings and the
 * dummy hash, set up once (first caller) under SETUP_LOCK. Rules: every crypto_pwhash_str*
 * call that costs memory runs inside a slot; the settings and dummy hash never change after
 * setup, and every reader takes SETUP_LOCK to see that setup happened, so nothing is read
 * half-written.
 */
#include "api/auth_password.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>

#include "shared/log.h"

/* Process-wide state; written once under SETUP_LOCK, read-only afterwards. */
static pthread_mutex_t SETUP_LOCK = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool ready;
    sem_t slots;
    unsigned long long opslimit;
    size_t memlimit;
    char dummy_hash[AUTH_PASSWORD_HASH_BUF];
} STATE;

static void take_slot(void) {
    while (sem_wait(&STATE.slots) != 0 && errno == EINTR) {
    }
}

static void give_slot(void) {
    if (sem_post(&STATE.slots) != 0)
        LOG_ERRORF("auth_password: sem_post failed: %s", strerror(errno));
}

static int setup_locked(const taskbus_config *cfg) {
    if (sodium_init() < 0) {
        LOG_ERRORF("auth_password: libsodium failed to initialise");
        return -1;
    }
    unsigned long long ops =
        cfg->argon2_opslimit > 0 ? (unsigned long long)cfg->argon2_opslimit : 0;
    size_t mem = cfg->argon2_memlimit_kib > 0 ? (size_t)cfg->argon2_memlimit_kib * 1024u : 0;
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_MAX ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_MAX ||
        cfg->argon2_concurrency < 1) {
        LOG_ERRORF("auth_password: argon2 settings out of range (ops %d, mem %d KiB, "
                   "concurrency %d)",
                   cfg->argon2_opslimit, cfg->argon2_memlimit_kib, cfg->argon2_concurrency);
        return -1;
    }
    if (sem_init(&STATE.slots, 0, (unsigned)cfg->argon2_concurrency) != 0) {
        LOG_ERRORF("auth_password: sem_init failed: %s", strerror(errno));
        return -1;
    }
    /* The dummy is a hash of random bytes nobody knows, with the live settings, so a
     * verification against it costs what a real one costs. */
    unsigned char secret[32];
    randombytes_buf(secret, sizeof secret);
    int rc = crypto_pwhash_str(STATE.dummy_hash, (const char *)secret, sizeof secret, ops, mem);
    sodium_memzero(secret, sizeof secret);
    if (rc != 0) {
        LOG_ERRORF("auth_password: cannot make the dummy hash (out of memory?)");
        sem_destroy(&STATE.slots);
        return -1;
    }
    STATE.opslimit = ops;
    STATE.memlimit = mem;
    STATE.ready = true;
    return 0;
}

int auth_password_setup(const taskbus_config *cfg) {
    if (cfg == NULL)
        return -1;
    int rc = 0;
    if (pthread_mutex_lock(&SETUP_LOCK) != 0)
        return -1;
    if (!STATE.ready)
        rc = setup_locked(cfg);
    if (pthread_mutex_unlock(&SETUP_LOCK) != 0)
        rc = -1;
    return rc;
}

int auth_password_hash(const taskbus_config *cfg, const char *password,
                       char out[AUTH_PASSWORD_HASH_BUF]) {
    if (password == NULL || auth_password_setup(cfg) != 0)
        return -1;
    take_slot();
    int rc = crypto_pwhash_str(out, password, strlen(password), STATE.opslimit, STATE.memlimit);
    give_slot();
    if (rc != 0)
        LOG_ERRORF("auth_password: crypto_pwhash_str failed (out of memory?)");
    return rc == 0 ? 0 : -1;
}

static bool well_formed(const char *stored_hash) {
    return stored_hash != NULL && memchr(stored_hash, '\0', AUTH_PASSWORD_HASH_BUF) != NULL &&
           strncmp(stored_hash, "$argon2id$", 10) == 0;
}

auth_password_result auth_password_verify(const taskbus_config *cfg, const char *stored_hash,
                                          const char *password) {
    if (password == NULL || auth_password_setup(cfg) != 0)
        return AUTH_PASSWORD_ERROR;
    if (!well_formed(stored_hash)) {
        LOG_ERRORF("auth_password: a stored hash is not an argon2id string");
        auth_password_verify_dummy(cfg, password); /* same cost either way */
        return AUTH_PASSWORD_ERROR;
    }
    take_slot();
    int rc = crypto_pwhash_str_verify(stored_hash, password, strlen(password));
    give_slot();
    return rc == 0 ? AUTH_PASSWORD_MATCH : AUTH_PASSWORD_MISMATCH;
}

void auth_password_verify_dummy(const taskbus_config *cfg, const char *password) {
    if (auth_password_setup(cfg) != 0)
        return;
    const char *pw = password != NULL ? password : "";
    take_slot();
    int rc = crypto_pwhash_str_verify(STATE.dummy_hash, pw, strlen(pw));
    give_slot();
    (void)rc; /* a mismatch by construction; only the time spent matters */
}

bool auth_password_needs_rehash(const taskbus_config *cfg, const char *stored_hash) {
    if (!well_formed(stored_hash) || auth_password_setup(cfg) != 0)
        return false; /* nothing sensible to rehash from; verify already refused it */
    return crypto_pwhash_str_needs_rehash(stored_hash, STATE.opslimit, STATE.memlimit) != 0;
}
