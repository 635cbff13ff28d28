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

/* Creates a vault named `name` for the user of `token`; id receives its id.
 * Returns 0, or -1 if the answer was not 201 with an id. */
int api_create_vault(vserver *s, const char *token, const char *name, char id[33]);

/* Adds the user with `email` to `vault` as `role` ("viewer", "editor",
 * "owner"). Returns the status (201 when added). */
int api_add_member(vserver *s, const char *token, const char *vault, const char *email,
                   const char *role);

/* Creates a note at `path` holding `content`; on 201, id (may be NULL)
 * receives its id. Returns the status. */
int api_create_note(vserver *s, const char *token, const char *vault, const char *path,
                    const char *content, char id[40]);

/* GETs note `id`: returns the status (-1 if the request failed); *content
 * (may be NULL: not wanted; malloc'd, caller frees; NULL without one) and
 * etag (may be NULL) are filled from the answer. */
int api_get_note(vserver *s, const char *token, const char *id, char **content, char etag[64]);

#endif
