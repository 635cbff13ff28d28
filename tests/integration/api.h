/*
 * api.h - small helpers for REST integration tests on top of proc.h:
 * JSON bodies, signing up users, and running a test body against every
 * storage backend (SQLite, then the PostgreSQL that ctest's fixture
 * started: the file $VN_PG_URL_FILE holds its URL, and a missing one is a
 * failure). Each server started on PostgreSQL gets a database of its own.
 */
#ifndef VN_TEST_API_H
#define VN_TEST_API_H

#include <jansson.h>

#include "proc.h"

/* A started server on one backend. */
typedef struct {
    vproc proc;
    const char *backend; /* "sqlite" or "postgres" */
    int port;
    char dburl[512]; /* postgres: this server's own database */
} vserver;

/* Starts vaultd on `backend` with extra flags (NULL-terminated, may be
 * NULL; a --database among them overrides the fresh database, to restart
 * on the same one). Returns 0 or -1. */
int vserver_start(vserver *s, const char *backend, const char *const *extra);
int vserver_stop(vserver *s); /* exit status */

/* Calls the API with a JSON body given as text (may be NULL). Returns the
 * status, or -1 if the request failed; *out (may be NULL) receives the
 * parsed JSON body (caller decrefs; NULL if not JSON). */
int api(vserver *s, const char *method, const char *path, const char *token, const char *body,
        json_t **out);

/* A unique email for this process: "<name>-<pid>-<n>@example.test". */
void unique_email(const char *name, char out[128]);

/* Registers and logs in; fills token (64 bytes) and *user_id. Returns 0. */
int signup(vserver *s, const char *email, char token[64], long long *user_id);

#endif
