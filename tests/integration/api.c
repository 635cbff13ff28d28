/*
 * api.c - REST test helpers (see api.h).
 */
#include "api.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Creates a new database on the fixture's server; its URL goes to out. */
static int fresh_database(char *out, size_t n) {
    static int counter;
    const char *file = getenv("VN_PG_URL_FILE");
    char *url = file != NULL ? vread_file(file) : NULL;
    if (url == NULL) {
        fprintf(stderr,
                "VN_PG_URL_FILE is not set or unreadable: the PostgreSQL fixture did not run\n");
        return -1;
    }
    url[strcspn(url, "\r\n")] = '\0';
    PGconn *c = PQconnectdb(url);
    char name[64], sql[128];
    snprintf(name, sizeof(name), "vn_api_%d_%d", (int)getpid(), ++counter);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "cannot create a test database at %s: %s\n", url, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    char *slash = strrchr(url, '/');
    if (ok && slash != NULL && slash > url + 12) {
        *slash = '\0';
        snprintf(out, n, "%s/%s", url, name);
    } else {
        ok = 0;
    }
    free(url);
    return ok ? 0 : -1;
}

int vserver_start(vserver *s, const char *backend, const char *const *extra) {
    const char *args[32];
    int n = 0;
    memset(s, 0, sizeof(*s));
    s->backend = backend;
    if (strcmp(backend, "postgres") == 0) {
        if (fresh_database(s->dburl, sizeof(s->dburl)) != 0) return -1;
        args[n++] = "--database";
        args[n++] = s->dburl;
    }
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++) args[n++] = extra[i];
    args[n] = NULL;
    if (vproc_start(&s->proc, args) != 0) return -1;
    s->port = s->proc.port;
    return 0;
}

int vserver_stop(vserver *s) {
    int rc = vproc_stop(&s->proc, 30);
    vproc_cleanup(&s->proc);
    return rc;
}

int api(vserver *s, const char *method, const char *path, const char *token, const char *body,
        json_t **out) {
    vresp r;
    if (out != NULL) *out = NULL;
    if (vhttp_call(s->port, method, path, token, NULL, NULL, body, body ? strlen(body) : 0, &r) !=
        0)
        return -1;
    if (out != NULL && r.body_len > 0) *out = json_loadb(r.body, r.body_len, 0, NULL);
    int status = r.status;
    vresp_free(&r);
    return status;
}

void unique_email(const char *name, char out[128]) {
    static int counter;
    snprintf(out, 128, "%s-%d-%d@example.test", name, (int)getpid(), ++counter);
}

int signup(vserver *s, const char *email, char token[64], long long *user_id) {
    char body[512];
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"correct horse battery\"}",
             email);
    json_t *j = NULL;
    if (api(s, "POST", "/api/v1/auth/register", NULL, body, &j) != 201) {
        json_decref(j);
        return -1;
    }
    *user_id = (long long)json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    if (api(s, "POST", "/api/v1/auth/login", NULL, body, &j) != 200) {
        json_decref(j);
        return -1;
    }
    const char *t = json_string_value(json_object_get(j, "token"));
    int rc = t != NULL && strlen(t) < 64 ? 0 : -1;
    if (rc == 0) strcpy(token, t);
    json_decref(j);
    return rc;
}

int api_create_vault(vserver *s, const char *token, const char *name, char id[33]) {
    json_t *b = json_pack("{s:s}", "name", name);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j = NULL;
    int status = body != NULL ? api(s, "POST", "/api/v1/vaults", token, body, &j) : -1;
    free(body);
    const char *v = json_string_value(json_object_get(j, "id"));
    int rc = status == 201 && v != NULL && strlen(v) == 32 ? 0 : -1;
    if (rc == 0) memcpy(id, v, 33);
    json_decref(j);
    return rc;
}

int api_add_member(vserver *s, const char *token, const char *vault, const char *email,
                   const char *role) {
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/members", vault);
    json_t *b = json_pack("{s:s, s:s}", "email", email, "role", role);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int status = body != NULL ? api(s, "POST", url, token, body, NULL) : -1;
    free(body);
    return status;
}

int api_create_note(vserver *s, const char *token, const char *vault, const char *path,
                    const char *content, char id[40]) {
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/vaults/%s/notes", vault);
    json_t *b = json_pack("{s:s, s:s}", "path", path, "content", content);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j = NULL;
    int status = body != NULL ? api(s, "POST", url, token, body, &j) : -1;
    free(body);
    if (status == 201 && id != NULL) {
        const char *v = json_string_value(json_object_get(j, "id"));
        snprintf(id, 40, "%s", v != NULL ? v : "");
    }
    json_decref(j);
    return status;
}

int api_get_note(vserver *s, const char *token, const char *id, char **content, char etag[64]) {
    char url[128], e[64];
    snprintf(url, sizeof(url), "/api/v1/notes/%s", id);
    vresp r;
    if (vhttp_call(s->port, "GET", url, token, NULL, NULL, NULL, 0, &r) != 0) return -1;
    int status = r.status;
    if (etag != NULL) snprintf(etag, 64, "%s", vresp_header(&r, "etag", e, sizeof(e)) ? e : "");
    json_t *j = json_loads(r.body, 0, NULL);
    vresp_free(&r);
    if (content != NULL) {
        const char *c = json_string_value(json_object_get(j, "content"));
        *content = c != NULL ? strdup(c) : NULL;
    }
    json_decref(j);
    return status;
}
