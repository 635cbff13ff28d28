/*
 * routes.c - the route table of vaultd: every REST route is one line here.
 */
#include "server/http.h"

#include <string.h>

static int route_healthz(vhttp *srv, h2o_req_t *req) {
    (void)srv;
    static const char body[] = "{\"status\":\"ok\"}";
    vhttp_send_json(req, 200, "OK", body, strlen(body));
    return 0;
}

const vroute vroutes[] = {
    {"GET", "/healthz", route_healthz},
};

const size_t vroutes_len = sizeof(vroutes) / sizeof(vroutes[0]);
