/*
 * ws.c - the WebSocket client of ws.h: TCP connect with a timeout, the
 * HTTP/1.1 upgrade (checked Sec-WebSocket-Accept), then libwslay's event
 * API on the non-blocking socket. Bytes read together with the handshake
 * answer are fed to wslay before the socket is read again.
 */
#include "client/ws.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>
#include <fcntl.h>

#define WS_MAX_MSG     (64u << 20) /* larger than any message the server may send */
#define WS_MAX_HEADERS 16384

typedef struct wsmsg {
    struct wsmsg *next;
    size_t len;
    uint8_t data[];
} wsmsg;

struct ws {
    int fd;
    wslay_event_context_ptr ctx;
    uint8_t *left; /* bytes read with the handshake, not yet given to wslay */
    size_t left_len, left_pos;
    wsmsg *head, *tail;
    bool closed; /* close frame received, EOF or a socket error */
    bool broken; /* EOF or socket error (not a clean close) */
    int close_code;
    uint64_t in, out;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
    (void)flags;
    ws *w = ud;
    if (w->left_pos < w->left_len) {
        size_t n = w->left_len - w->left_pos;
        if (n > len) n = len;
        memcpy(buf, w->left + w->left_pos, n);
        w->left_pos += n;
        return (ssize_t)n;
    }
    ssize_t r;
    do {
        r = recv(w->fd, buf, len, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r <= 0) {
        w->broken = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    w->in += (uint64_t)r;
    return r;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud) {
    (void)flags;
    ws *w = ud;
    ssize_t r;
    do {
        r = send(w->fd, data, len, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        } else {
            w->broken = true;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
    }
    w->out += (uint64_t)r;
    return r;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud) {
    (void)ctx;
    (void)ud;
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud) {
    (void)ctx;
    ws *w = ud;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        w->closed = true;
        w->close_code = arg->status_code;
        return;
    }
    if (arg->opcode != WSLAY_BINARY_FRAME) return; /* the channel has no text messages */
    wsmsg *m = malloc(sizeof(*m) + arg->msg_length);
    if (m == NULL) {
        w->closed = w->broken = true; /* losing a message would desynchronise us */
        return;
    }
    m->next = NULL;
    m->len = arg->msg_length;
    memcpy(m->data, arg->msg, arg->msg_length);
    if (w->tail != NULL)
        w->tail->next = m;
    else
        w->head = m;
    w->tail = m;
}

/* Splits http://host[:port][/...] into host and port. */
static int parse_base(const char *base, char *host, size_t hostsz, char *port, size_t portsz,
                      char *err, size_t errlen) {
    if (strncmp(base, "https://", 8) == 0) {
        snprintf(err, errlen,
                 "%s: the sync channel of this vn speaks plain http:// only (no TLS yet)", base);
        return WS_EURL;
    }
    if (strncmp(base, "http://", 7) != 0) {
        snprintf(err, errlen, "%s: not an http:// URL", base);
        return WS_EURL;
    }
    const char *h = base + 7;
    size_t hl = strcspn(h, "/");
    const char *colon = memchr(h, ':', hl);
    size_t namelen = colon != NULL ? (size_t)(colon - h) : hl;
    if (namelen == 0 || namelen >= hostsz) {
        snprintf(err, errlen, "%s: no host name in the URL", base);
        return WS_EURL;
    }
    memcpy(host, h, namelen);
    host[namelen] = '\0';
    if (colon != NULL) {
        size_t pl = hl - namelen - 1;
        if (pl == 0 || pl >= portsz) {
            snprintf(err, errlen, "%s: bad port in the URL", base);
            return WS_EURL;
        }
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
    } else {
        snprintf(port, portsz, "80");
    }
    return WS_OK;
}

static int wait_fd(int fd, short ev, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left < 0) left = 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)left);
        if (r > 0) return 0;
        if (r == 0) return WS_ETIMEOUT;
        if (errno != EINTR) return WS_ENET;
    }
}

static int tcp_connect(const char *host, const char *port, int64_t deadline, char *err,
                       size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gr = getaddrinfo(host, port, &hints, &res);
    if (gr != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gr));
        return -1;
    }
    int fd = -1, last = ECONNREFUSED;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            if (wait_fd(fd, POLLOUT, deadline) == 0) {
                socklen_t sl = sizeof(last);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &last, &sl) == 0 && last == 0) r = 0;
            } else {
                last = ETIMEDOUT;
            }
        } else if (r < 0) {
            last = errno;
        }
        if (r != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) { /* small messages go out at once: no Nagle + delayed-ACK stalls */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (fd < 0) snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(last));
    return fd;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline) {
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) != 0) return -1;
            continue;
        }
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void accept_key(const char *key, char out[64]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char cat[128];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n = snprintf(cat, sizeof(cat), "%s%s", key, guid);
    EVP_Digest(cat, (size_t)n, md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

/* Finds header `name` in the raw header block; copies its trimmed value. */
static bool header_value(const char *hdrs, const char *name, char *out, size_t outsz) {
    size_t nl = strlen(name);
    for (const char *l = strstr(hdrs, "\r\n"); l != NULL; l = strstr(l, "\r\n")) {
        l += 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = strcspn(v, "\r\n");
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            if (vl >= outsz) vl = outsz - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
    }
    return false;
}

int ws_connect(const char *base, const char *path, const char *token, int timeout_ms, ws **out,
               int *status, char *err, size_t errlen) {
    char host[256], port[16];
    *status = 0;
    int rc = parse_base(base, host, sizeof(host), port, sizeof(port), err, errlen);
    if (rc != WS_OK) return rc;
    int64_t deadline = now_ms() + timeout_ms;
    int fd = tcp_connect(host, port, deadline, err, errlen);
    if (fd < 0) return WS_ENET;
    uint8_t raw[16];
    char key[32], want[64];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        close(fd);
        snprintf(err, errlen, "no random bytes for the WebSocket key");
        return WS_ENET;
    }
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    accept_key(key, want);
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n"
                     "User-Agent: vn/" VN_VERSION "\r\n\r\n",
                     path, host, port, key, token);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        close(fd);
        snprintf(err, errlen, "request too long");
        return WS_EURL;
    }
    ws *w = calloc(1, sizeof(*w));
    char *buf = malloc(WS_MAX_HEADERS + 1);
    if (w == NULL || buf == NULL) {
        free(w);
        free(buf);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return WS_ENOMEM;
    }
    w->fd = fd;
    w->out += (uint64_t)n;
    if (send_all(fd, req, (size_t)n, deadline) != 0) {
        snprintf(err, errlen, "%s: the connection broke while sending the request", base);
        rc = WS_ENET;
        goto fail;
    }
    size_t got = 0;
    char *end = NULL;
    while (end == NULL) {
        if (got == WS_MAX_HEADERS) {
            snprintf(err, errlen, "%s: answer headers too long", base);
            rc = WS_ENET;
            goto fail;
        }
        ssize_t r = recv(fd, buf + got, WS_MAX_HEADERS - got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            int wr = wait_fd(fd, POLLIN, deadline);
            if (wr != 0) {
                snprintf(err, errlen, "%s: no answer from the server in time", base);
                rc = wr == WS_ETIMEOUT ? WS_ETIMEOUT : WS_ENET;
                goto fail;
            }
            continue;
        }
        if (r <= 0) {
            snprintf(err, errlen, "%s: the server closed the connection during the handshake",
                     base);
            rc = WS_ENET;
            goto fail;
        }
        got += (size_t)r;
        w->in += (uint64_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int code = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1) {
        snprintf(err, errlen, "%s: not an HTTP server", base);
        rc = WS_ENET;
        goto fail;
    }
    *end = '\0';
    size_t body_at = (size_t)(end + 4 - buf);
    if (code != 101) {
        /* Read the problem+json body (bounded) for its detail. */
        char cl[32];
        size_t want_body =
            header_value(buf, "Content-Length", cl, sizeof(cl)) ? (size_t)strtoul(cl, NULL, 10) : 0;
        if (want_body > WS_MAX_HEADERS - body_at) want_body = WS_MAX_HEADERS - body_at;
        while (got - body_at < want_body) {
            ssize_t r = recv(fd, buf + got, body_at + want_body - got, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_fd(fd, POLLIN, deadline) != 0) break;
                continue;
            }
            if (r <= 0) break;
            got += (size_t)r;
        }
        buf[got] = '\0';
        json_t *j = json_loads(buf + body_at, 0, NULL);
        const char *detail = json_string_value(json_object_get(j, "detail"));
        snprintf(err, errlen, "%s", detail != NULL ? detail : "the server refused the channel");
        json_decref(j);
        *status = code;
        rc = WS_EHTTP;
        goto fail;
    }
    char acc[128];
    if (!header_value(buf, "Sec-WebSocket-Accept", acc, sizeof(acc)) || strcmp(acc, want) != 0) {
        snprintf(err, errlen, "%s: bad WebSocket handshake answer", base);
        rc = WS_ENET;
        goto fail;
    }
    if (got > body_at) {
        w->left = malloc(got - body_at);
        if (w->left == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = WS_ENOMEM;
            goto fail;
        }
        memcpy(w->left, buf + body_at, got - body_at);
        w->left_len = got - body_at;
    }
    free(buf);
    buf = NULL;
    struct wslay_event_callbacks cb = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .genmask_callback = genmask_cb,
        .on_msg_recv_callback = msg_cb,
    };
    if (wslay_event_context_client_init(&w->ctx, &cb, w) != 0) {
        snprintf(err, errlen, "out of memory");
        rc = WS_ENOMEM;
        goto fail;
    }
    wslay_event_config_set_max_recv_msg_length(w->ctx, WS_MAX_MSG);
    *out = w;
    return WS_OK;
fail:
    free(buf);
    free(w->left);
    close(fd);
    free(w);
    return rc;
}

int ws_fd(const ws *w) { return w->fd; }
int ws_queued(const ws *w) { return w->head != NULL || w->left_pos < w->left_len; }
int ws_close_code(const ws *w) { return w->close_code; }
uint64_t ws_bytes_in(const ws *w) { return w->in; }
uint64_t ws_bytes_out(const ws *w) { return w->out; }

int ws_poll_fd_events(const ws *w) {
    return POLLIN | (wslay_event_want_write(w->ctx) ? POLLOUT : 0);
}

static int state(const ws *w) {
    if (w->broken) return WS_ENET;
    if (w->closed) return WS_ECLOSED;
    return WS_OK;
}

int ws_send(ws *w, const uint8_t *msg, size_t len) {
    if (state(w) != WS_OK) return state(w);
    struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME, .msg = msg, .msg_length = len};
    int r = wslay_event_queue_msg(w->ctx, &m);
    if (r == WSLAY_ERR_NOMEM) return WS_ENOMEM;
    if (r != 0) return WS_ECLOSED;
    if (wslay_event_send(w->ctx) != 0) w->broken = true;
    return state(w);
}

static wsmsg *pop(ws *w) {
    wsmsg *m = w->head;
    if (m != NULL) {
        w->head = m->next;
        if (w->head == NULL) w->tail = NULL;
    }
    return m;
}

int ws_recv(ws *w, int timeout_ms, uint8_t **msg, size_t *len) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
    for (;;) {
        wsmsg *m = pop(w);
        if (m != NULL) {
            /* hand out the bytes in a buffer of their own (memmove over the header) */
            size_t n = m->len;
            memmove(m, m->data, n);
            *msg = (uint8_t *)m;
            *len = n;
            return 1;
        }
        if (state(w) != WS_OK) return state(w);
        if (w->left_pos < w->left_len) {
            if (wslay_event_recv(w->ctx) != 0) w->broken = w->broken || !w->closed;
            continue;
        }
        int64_t left = deadline == INT64_MAX ? -1 : deadline - now_ms();
        if (left < 0 && deadline != INT64_MAX) left = 0;
        struct pollfd p = {.fd = w->fd, .events = (short)ws_poll_fd_events(w)};
        int r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (r < 0 && errno != EINTR) return WS_ENET;
        if (r <= 0) {
            if (deadline != INT64_MAX && now_ms() >= deadline) return 0;
            continue;
        }
        if (p.revents & POLLOUT) {
            if (wslay_event_send(w->ctx) != 0) w->broken = true;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (wslay_event_recv(w->ctx) != 0 && !w->closed) w->broken = true;
        }
    }
}

void ws_free(ws *w) {
    if (w == NULL) return;
    if (!w->broken && !w->closed) {
        wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        int64_t deadline = now_ms() + 1000;
        while (wslay_event_want_write(w->ctx) && now_ms() < deadline) {
            if (wslay_event_send(w->ctx) != 0) break;
            if (wslay_event_want_write(w->ctx) && wait_fd(w->fd, POLLOUT, deadline) != 0) break;
        }
    }
    wsmsg *m;
    while ((m = pop(w)) != NULL) free(m);
    wslay_event_context_free(w->ctx);
    free(w->left);
    close(w->fd);
    free(w);
}
