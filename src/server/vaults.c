/*
 * vaults.c - vault and member routes (see vaults.h).
 *
 * The dispatcher has already checked the caller's role on the vault named
 * by the route; handlers here only check the request itself. A vault always
 * keeps at least one owner: removing or demoting the last one is refused.
 */
#include "server/vaults.h"

#include "server/auth.h"
#include "server/cache.h"
#include "server/trash.h"
#include "util/log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VAULT_NAME 200

const char *vaults_role_name(store_role r) {
    switch (r) {
    case ROLE_OWNER: return "owner";
    case ROLE_EDITOR: return "editor";
    case ROLE_VIEWER: return "viewer";
    default: return "none";
    }
}

static int role_from_name(const char *s, store_role *out) {
    if (strcmp(s, "owner") == 0)
        *out = ROLE_OWNER;
    else if (strcmp(s, "editor") == 0)
        *out = ROLE_EDITOR;
    else if (strcmp(s, "viewer") == 0)
        *out = ROLE_VIEWER;
    else
        return -1;
    return 0;
}

void vaults_new_id(char out[33]) {
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 33, raw, sizeof(raw));
}

static json_t *vault_json(const store_vault *v) {
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "id", v->id, "name", v->name, "role",
                     vaults_role_name(v->role), "created", (json_int_t)v->created, "seq",
                     (json_int_t)v->seq, "trashRetentionDays",
                     trash_retention_days(v->trash_retention_days));
}

static void db_failed(vctx *ctx) {
    vhttp_send_problem(ctx, 503, "Service Unavailable", "The database did not answer.");
}

void vaults_route_list(vctx *ctx) {
    store_vault *v = NULL;
    size_t n = 0;
    if (store_vault_list(ctx->st, ctx->user_id, &v, &n) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, vault_json(&v[i]));
    store_vaults_free(v, n);
    vhttp_send_json(ctx, 200, json_pack("{s:o}", "vaults", arr));
}

/* A vault name: 1..200 bytes, no control characters, not only spaces. */
static int valid_name(const char *s) {
    size_t n = strlen(s);
    int visible = 0;
    if (n == 0 || n > MAX_VAULT_NAME) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 0;
        if (c != ' ') visible = 1;
    }
    return visible;
}

void vaults_route_create(vctx *ctx) {
    static const char *const keys[] = {"name", NULL};
    static const json_type types[] = {JSON_STRING};
    if (vctx_body_fields(ctx, keys, types, 1) != 0) return;
    const char *name = json_string_value(json_object_get(ctx->body, "name"));
    if (!valid_name(name)) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "A vault name is 1 to 200 bytes without control characters.");
        return;
    }
    char id[33];
    vaults_new_id(id);
    if (store_vault_create(ctx->st, id, name, ctx->user_id, auth_now_ms()) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    store_vault v;
    if (store_vault_get(ctx->st, id, ctx->user_id, &v) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    char location[80];
    snprintf(location, sizeof(location), "/api/v1/vaults/%s", id);
    vhttp_add_header(ctx, "location", location);
    vhttp_send_json(ctx, 201, vault_json(&v));
    store_vault_free(&v);
}

/* Adds `f` to the nested tree under `root` (folders created on the way). */
static void tree_add(json_t *root, const store_file *f) {
    json_t *node = root;
    const char *p = f->path + 1; /* paths start with '/' */
    for (;;) {
        const char *slash = strchr(p, '/');
        if (slash == NULL) break;
        json_t *folders = json_object_get(node, "folders");
        size_t i;
        json_t *child = NULL, *it;
        json_array_foreach(folders, i, it) {
            const char *nm = json_string_value(json_object_get(it, "name"));
            if (strlen(nm) == (size_t)(slash - p) && memcmp(nm, p, (size_t)(slash - p)) == 0) {
                child = it;
                break;
            }
        }
        if (child == NULL) {
            child =
                json_pack("{s:s#, s:[], s:[]}", "name", p, (int)(slash - p), "folders", "files");
            json_array_append_new(folders, child);
        }
        node = child;
        p = slash + 1;
    }
    json_array_append_new(json_object_get(node, "files"),
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", f->id, "name", p,
                                    "path", f->path, "title", f->title != NULL ? f->title : "",
                                    "kind", f->is_note ? "note" : "file", "updated",
                                    (json_int_t)f->updated));
}

void vaults_route_get(vctx *ctx) {
    store_vault v;
    if (store_vault_get(ctx->st, ctx->vault, ctx->user_id, &v) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    store_file *files = NULL;
    size_t n = 0;
    if (store_file_list(ctx->st, ctx->vault, "", false, &files, &n) != STORE_OK) {
        store_vault_free(&v);
        db_failed(ctx);
        return;
    }
    json_t *tree = json_pack("{s:s, s:[], s:[]}", "name", "", "folders", "files");
    for (size_t i = 0; i < n; i++) tree_add(tree, &files[i]);
    store_files_free(files, n);
    json_t *out = vault_json(&v);
    json_object_set_new(out, "tree", tree);
    store_vault_free(&v);
    vhttp_send_json(ctx, 200, out);
}

void vaults_route_members(vctx *ctx) {
    store_member *m = NULL;
    size_t n = 0;
    if (store_members_list(ctx->st, ctx->vault, &m, &n) != STORE_OK) {
        db_failed(ctx);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:I, s:s, s:s, s:s}", "user_id", (json_int_t)m[i].user_id,
                                        "email", m[i].email, "name", m[i].name ? m[i].name : "",
                                        "role", vaults_role_name(m[i].role)));
    store_members_free(m, n);
    vhttp_send_json(ctx, 200, json_pack("{s:o}", "members", arr));
}

/* How many owners the vault has, or -1 on a database error. */
static int count_owners(vctx *ctx) {
    store_member *m = NULL;
    size_t n = 0;
    if (store_members_list(ctx->st, ctx->vault, &m, &n) != STORE_OK) return -1;
    int owners = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].role == ROLE_OWNER) owners++;
    store_members_free(m, n);
    return owners;
}

void vaults_route_member_add(vctx *ctx) {
    static const char *const keys[] = {"email", "role", NULL};
    static const json_type types[] = {JSON_STRING, JSON_STRING};
    if (vctx_body_fields(ctx, keys, types, 2) != 0) return;
    const char *email = json_string_value(json_object_get(ctx->body, "email"));
    store_role role;
    if (role_from_name(json_string_value(json_object_get(ctx->body, "role")), &role) != 0) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "The role must be \"owner\", \"editor\" or \"viewer\".");
        return;
    }
    char lower[256];
    size_t len = strlen(email);
    if (len >= sizeof(lower)) len = sizeof(lower) - 1;
    for (size_t i = 0; i < len; i++) lower[i] = (char)tolower((unsigned char)email[i]);
    lower[len] = '\0';
    store_user u;
    int rc = store_user_by_email(ctx->st, lower, &u);
    if (rc == STORE_ENOTFOUND) {
        vhttp_send_problem(ctx, 422, "Unprocessable Content",
                           "No account has that email; ask them to register first.");
        return;
    }
    if (rc != STORE_OK) {
        db_failed(ctx);
        return;
    }
    store_role current = ROLE_NONE;
    rc = store_member_role(ctx->st, ctx->vault, u.id, &current);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) goto db;
    if (current == ROLE_OWNER && role != ROLE_OWNER) {
        int owners = count_owners(ctx);
        if (owners < 0) goto db;
        if (owners <= 1) {
            vhttp_send_problem(ctx, 409, "Conflict", "A vault keeps at least one owner.");
            goto out;
        }
    }
    if (store_member_set(ctx->st, ctx->vault, u.id, role) != STORE_OK) goto db;
    vcache_clear(vhttp_role_cache(ctx->srv));
    vhttp_send_json(ctx, current == ROLE_NONE ? 201 : 200,
                    json_pack("{s:I, s:s, s:s, s:s}", "user_id", (json_int_t)u.id, "email", u.email,
                              "name", u.name ? u.name : "", "role", vaults_role_name(role)));
    goto out;
db:
    db_failed(ctx);
out:
    store_user_free(&u);
}

void vaults_route_member_remove(vctx *ctx) {
    const char *uid = vctx_param(ctx, "user");
    char *end;
    long long id = strtoll(uid, &end, 10);
    if (*end != '\0' || id <= 0) {
        vhttp_send_problem(ctx, 404, "Not Found", "No such member.");
        return;
    }
    store_role current;
    int rc = store_member_role(ctx->st, ctx->vault, id, &current);
    if (rc == STORE_ENOTFOUND || (rc == STORE_OK && current == ROLE_NONE)) {
        vhttp_send_problem(ctx, 404, "Not Found", "No such member.");
        return;
    }
    if (rc != STORE_OK) {
        db_failed(ctx);
        return;
    }
    if (current == ROLE_OWNER) {
        int owners = count_owners(ctx);
        if (owners < 0) {
            db_failed(ctx);
            return;
        }
        if (owners <= 1) {
            vhttp_send_problem(ctx, 409, "Conflict", "A vault keeps at least one owner.");
            return;
        }
    }
    rc = store_member_remove(ctx->st, ctx->vault, id);
    vcache_clear(vhttp_role_cache(ctx->srv));
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        db_failed(ctx);
        return;
    }
    vhttp_send_raw(ctx, 204, NULL, "", 0);
}
