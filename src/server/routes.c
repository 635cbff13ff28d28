/*
 * routes.c - the route table of vaultd: every route is one line here
 * (method, pattern, handler, who may call it), and the operational routes.
 *
 * The dispatcher (http.c) tries the lines in order; a {name} segment matches
 * any one path segment. Roles are checked on the vault named by {vault}, or
 * on the vault holding {note}.
 */
#include "server/auth.h"
#include "server/history.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/notes.h"
#include "server/search.h"
#include "server/sync.h"
#include "server/vchan.h"
#include "server/trash.h"
#include "server/vaults.h"
#include "server/vws.h"

#include <stdlib.h>
#include <string.h>

static void route_healthz(vctx *ctx) {
    vhttp_send_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
}

static void route_readyz(vctx *ctx) {
    if (ctx->st == NULL || store_ping(ctx->st) != STORE_OK) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "The database does not answer.");
        return;
    }
    vhttp_send_json(ctx, 200,
                    json_pack("{s:s, s:s}", "status", "ready", "database", store_backend(ctx->st)));
}

static void route_metrics(vctx *ctx) {
    vmetrics *m = vhttp_metrics(ctx->srv);
    if (ctx->docs != NULL) {
        vmetrics_gauge(m, "vault_open_documents", "CRDT documents held in memory.",
                       (double)vdocs_count(ctx->docs));
        size_t frozen_bytes = 0;
        size_t frozen = vdocs_frozen(ctx->docs, &frozen_bytes);
        vmetrics_gauge(m, "vault_docs_frozen",
                       "Open documents frozen: kept as their encoded update only.", (double)frozen);
        vmetrics_gauge(m, "vault_docs_frozen_bytes",
                       "Bytes of the frozen documents' updates, as kept (deflated).",
                       (double)frozen_bytes);
        vmetrics_gauge(m, "vault_pending_structs",
                       "Structs waiting for missing dependencies, across open documents.",
                       (double)vdocs_pending_structs(ctx->docs));
    }
    vmetrics_gauge(m, "vault_sync_connections", "Open sync WebSocket connections.",
                   (double)vsync_connections(vhttp_sync(ctx->srv)));
    vmetrics_gauge(m, "vault_sync_documents", "Notes with at least one sync connection.",
                   (double)vsync_documents(vhttp_sync(ctx->srv)));
    vmetrics_gauge(m, "vault_vchan_connections", "Open vault channel WebSocket connections.",
                   (double)vchan_connections(vhttp_vchan(ctx->srv)));
    vmetrics_gauge(m, "vault_ws_idle_connections",
                   "WebSocket connections idle long enough to hold no wslay context.",
                   (double)vws_released());
    int64_t lag = 0, oldest = 0;
    if (ctx->st != NULL &&
        store_events_pending(ctx->st, SEARCH_CONSUMER, NULL, &lag, &oldest) == STORE_OK) {
        int64_t now = auth_now_ms();
        vmetrics_gauge(m, "vault_search_lag_events",
                       "Outbox events the search indexer has not processed yet (all vaults).",
                       (double)lag);
        vmetrics_gauge(m, "vault_search_lag_seconds",
                       "Age of the oldest outbox event the search indexer has not processed.",
                       oldest != 0 && now > oldest ? (double)(now - oldest) / 1e3 : 0);
    }
    char *text = vmetrics_render(m);
    if (text == NULL) {
        vhttp_send_problem(ctx, 503, "Service Unavailable", "Out of memory.");
        return;
    }
    vhttp_send_raw(ctx, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}

const vroute vroutes[] = {
    {"GET", "/healthz", route_healthz, ACCESS_PUBLIC},
    {"GET", "/readyz", route_readyz, ACCESS_PUBLIC},
    {"GET", "/metrics", route_metrics, ACCESS_PUBLIC},
    {"POST", "/api/v1/auth/register", auth_route_register, ACCESS_PUBLIC},
    {"POST", "/api/v1/auth/login", auth_route_login, ACCESS_PUBLIC},
    {"POST", "/api/v1/auth/logout", auth_route_logout, ACCESS_USER},
    {"GET", "/api/v1/me", auth_route_me, ACCESS_USER},
    {"GET", "/api/v1/vaults", vaults_route_list, ACCESS_USER},
    {"POST", "/api/v1/vaults", vaults_route_create, ACCESS_USER},
    {"GET", "/api/v1/vaults/{vault}", vaults_route_get, ACCESS_VIEWER},
    {"PATCH", "/api/v1/vaults/{vault}", trash_route_vault_patch, ACCESS_OWNER},
    {"GET", "/api/v1/vaults/{vault}/members", vaults_route_members, ACCESS_VIEWER},
    {"POST", "/api/v1/vaults/{vault}/members", vaults_route_member_add, ACCESS_OWNER},
    {"DELETE", "/api/v1/vaults/{vault}/members/{user}", vaults_route_member_remove, ACCESS_OWNER},
    {"GET", "/api/v1/vaults/{vault}/notes", notes_route_list, ACCESS_VIEWER},
    {"POST", "/api/v1/vaults/{vault}/notes", notes_route_create, ACCESS_EDITOR},
    {"POST", "/api/v1/vaults/{vault}/folders/rename", notes_route_folder_rename, ACCESS_EDITOR},
    {"GET", "/api/v1/vaults/{vault}/search", search_route, ACCESS_VIEWER},
    {"POST", "/api/v1/vaults/{vault}/folders/trash", trash_route_folder, ACCESS_EDITOR},
    {"GET", "/api/v1/vaults/{vault}/trash", trash_route_list, ACCESS_VIEWER},
    {"GET", "/api/v1/notes/{note}", notes_route_get, ACCESS_VIEWER},
    {"PUT", "/api/v1/notes/{note}", notes_route_put, ACCESS_EDITOR},
    {"PATCH", "/api/v1/notes/{note}", notes_route_patch, ACCESS_EDITOR},
    {"DELETE", "/api/v1/notes/{note}", notes_route_delete, ACCESS_EDITOR},
    {"POST", "/api/v1/notes/{note}/restore", trash_route_restore, ACCESS_EDITOR},
    {"GET", "/api/v1/notes/{note}/versions", history_route_list, ACCESS_VIEWER},
    {"GET", "/api/v1/notes/{note}/versions/{v}", history_route_get, ACCESS_VIEWER},
    {"GET", "/api/v1/notes/{note}/versions/{v}/diff", history_route_diff, ACCESS_VIEWER},
    {"POST", "/api/v1/notes/{note}/versions/{v}/restore", history_route_restore, ACCESS_EDITOR},
    {"GET", "/api/v1/sync/{note}", sync_route, ACCESS_VIEWER},
    {"GET", "/api/v1/vaults/{vault}/sync", vchan_route, ACCESS_VIEWER},
};

const size_t vroutes_len = sizeof(vroutes) / sizeof(vroutes[0]);
