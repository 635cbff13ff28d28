/*
 * rest.c - rest.h over libcurl's easy interface. One easy handle is kept
 * for the process so keep-alive connections are reused between calls.
 */
#include "client/rest.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REST_MAX_BODY (64u << 20)

static CURL *easy;
static uint64_t bytes_in, bytes_out;

typedef struct {
    char *p;
    size_t n;
    int over;
} rbuf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    rbuf *b = ud;
    size_t n = size * nmemb;
    if (b->n + n > REST_MAX_BODY) {
        b->over = 1;
        return 0;
    }
    char *q = realloc(b->p, b->n + n + 1);
    if (q == NULL) return 0;
    memcpy(q + b->n, ptr, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static void cleanup(void) {
    if (easy != NULL) curl_easy_cleanup(easy);
    easy = NULL;
    curl_global_cleanup();
}

uint64_t rest_bytes_in(void) { return bytes_in; }
uint64_t rest_bytes_out(void) { return bytes_out; }

char *rest_escape(const char *s) {
    if (easy == NULL) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) return NULL;
        easy = curl_easy_init();
        if (easy == NULL) return NULL;
        atexit(cleanup);
    }
    char *e = curl_easy_escape(easy, s, 0);
    if (e == NULL) return NULL;
    char *r = strdup(e);
    curl_free(e);
    return r;
}

int rest_call(const char *base, const char *token, const char *method, const char *path,
              const json_t *body, int *status, json_t **out, char *err, size_t errlen) {
    if (out != NULL) *out = NULL;
    *status = 0;
    if (easy == NULL) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) return REST_ENOMEM;
        easy = curl_easy_init();
        if (easy == NULL) return REST_ENOMEM;
        atexit(cleanup);
    }
    curl_easy_reset(easy);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') bl--;
    char *url = malloc(bl + strlen(path) + 1);
    char *payload = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *h = NULL;
    char auth[600];
    rbuf b = {0};
    int rc = REST_ENOMEM;
    if (url == NULL || (body != NULL && payload == NULL)) goto out;
    memcpy(url, base, bl);
    strcpy(url + bl, path);
    h = curl_slist_append(h, "Accept: application/json");
    if (payload != NULL) h = curl_slist_append(h, "Content-Type: application/json");
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (h == NULL) goto out;
    char ua[64];
    snprintf(ua, sizeof(ua), "vn/%s", VN_VERSION);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (payload != NULL) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cr = curl_easy_perform(easy);
    curl_off_t dl = 0, hs = 0, ul = 0, rq = 0;
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &dl);
    curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &hs);
    curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &ul);
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &rq);
    bytes_in += (uint64_t)(dl + hs);
    bytes_out += (uint64_t)(ul + rq);
    if (cr != CURLE_OK) {
        if (b.over)
            snprintf(err, errlen, "the answer from %.*s is too large", (int)bl, base);
        else
            snprintf(err, errlen, "cannot reach %.*s: %s", (int)bl, base, curl_easy_strerror(cr));
        rc = REST_ENET;
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    json_t *j = b.n > 0 ? json_loadb(b.p, b.n, 0, NULL) : NULL;
    if (code >= 400) {
        const char *d = json_string_value(json_object_get(j, "detail"));
        const char *t = json_string_value(json_object_get(j, "title"));
        if (d != NULL)
            snprintf(err, errlen, "%s", d);
        else if (t != NULL)
            snprintf(err, errlen, "%s", t);
        else
            snprintf(err, errlen, "the server answered HTTP %ld", code);
    }
    if (out != NULL)
        *out = j;
    else
        json_decref(j);
    rc = REST_OK;
out:
    curl_slist_free_all(h);
    free(b.p);
    free(url);
    free(payload);
    return rc;
}
