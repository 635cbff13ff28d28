/*
 * wsc.c - a WebSocket client on libuv and wslay (see wsc.h).
 *
 * Bytes out: wslay's send callback appends frames to `out`; flush() writes
 * `out` with uv_try_write and hands whatever the socket did not take to one
 * uv_write at a time (the buffers `out` and `wbuf` swap, so a buffer is
 * never reallocated while the kernel-bound write holds it).
 *
 * Bytes in: every read lands in the loop's shared buffer (wsc_loop.rbuf) and
 * is consumed before read_cb returns: during the handshake it is collected
 * into `hs` until the end of the response headers; afterwards wslay's recv
 * callback takes it from `rin`. Bytes that follow the handshake response in
 * the same read are frames, handed to wslay at once.
 *
 * Invariants: the wsc is freed only in on_closed (libuv's close callback),
 * after every write callback has run; `state` only moves forward.
 */
#include "wsc.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#define HANDSHAKE_MAX 16384 /* bytes of response headers we accept */

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

struct wsc {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    wsc_callbacks cb;
    void *ud;
    wslay_event_context_ptr ws;
    int state;
    bool silent;  /* closed before any callback was promised: tell nobody */
    bool writing; /* wreq is in flight with wbuf */
    char accept[32];
    char *req;
    char *hs;
    size_t hs_len;
    const uint8_t *rin;
    size_t rin_len, rin_pos;
    uint8_t *out, *wbuf;
    size_t out_len, out_cap, wbuf_len, wbuf_cap;
    int close_code;
    const char *why;
};

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static uint64_t next_rand(wsc *c) {
    wsc_loop *l = c->tcp.loop->data;
    uint64_t x = l->mask_state != 0 ? l->mask_state : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    l->mask_state = x;
    return x;
}

/* ---- closing ---------------------------------------------------------------- */

static void on_closed(uv_handle_t *h) {
    wsc *c = h->data;
    if (!c->silent && c->cb.on_close != NULL) c->cb.on_close(c, c->ud, c->close_code, c->why);
    if (c->ws != NULL) wslay_event_context_free(c->ws);
    free(c->req);
    free(c->hs);
    free(c->out);
    free(c->wbuf);
    free(c);
}

static void end(wsc *c, int code, const char *why) {
    if (c->state == ST_CLOSED) return;
    c->state = ST_CLOSED;
    c->close_code = code;
    c->why = why;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void wsc_close(wsc *c) { end(c, 0, "closed by the client"); }

/* ---- writing ------------------------------------------------------------------ */

static int append(wsc *c, const void *data, size_t len) {
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap != 0 ? c->out_cap : 1024;
        while (cap < c->out_len + len) cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (p == NULL) return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static void flush(wsc *c);

static void on_written(uv_write_t *req, int status) {
    wsc *c = req->data;
    c->writing = false;
    c->wbuf_len = 0;
    if (c->state == ST_CLOSED) return;
    if (status < 0) {
        end(c, 0, "write failed");
        return;
    }
    flush(c);
}

static void flush(wsc *c) {
    if (c->writing || c->out_len == 0 || c->state == ST_CLOSED) return;
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) {
        end(c, 0, "write failed");
        return;
    }
    if ((size_t)n == c->out_len) {
        c->out_len = 0;
        return;
    }
    /* The rest goes out with one uv_write; swap buffers so that `out` can
     * grow meanwhile. */
    uint8_t *tb = c->wbuf;
    size_t tcap = c->wbuf_cap;
    c->wbuf = c->out;
    c->wbuf_cap = c->out_cap;
    c->wbuf_len = c->out_len - (size_t)n;
    if (n > 0) memmove(c->wbuf, c->wbuf + n, c->wbuf_len);
    c->out = tb;
    c->out_cap = tcap;
    c->out_len = 0;
    b = uv_buf_init((char *)c->wbuf, (unsigned)c->wbuf_len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        end(c, 0, "write failed");
        return;
    }
    c->writing = true;
}

size_t wsc_backlog(const wsc *c) { return c->out_len + c->wbuf_len; }

/* ---- wslay callbacks ------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
    (void)flags;
    wsc *c = ud;
    size_t left = c->rin_len - c->rin_pos;
    if (left == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = left < len ? left : len;
    memcpy(buf, c->rin + c->rin_pos, n);
    c->rin_pos += n;
    return (ssize_t)n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud) {
    (void)flags;
    wsc *c = ud;
    if (append(c, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud) {
    (void)ctx;
    wsc *c = ud;
    while (len > 0) {
        uint64_t r = next_rand(c);
        size_t n = len < 8 ? len : 8;
        memcpy(buf, &r, n);
        buf += n;
        len -= n;
    }
    return 0;
}

static void ws_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud) {
    (void)ctx;
    wsc *c = ud;
    if (c->state != ST_OPEN) return;
    if (arg->opcode == WSLAY_BINARY_FRAME && c->cb.on_message != NULL)
        c->cb.on_message(c, c->ud, arg->msg, arg->msg_length);
}

/* Hands frame bytes to wslay, then sends what it queued (pongs, the answer
 * to a close). */
static void feed(wsc *c, const uint8_t *data, size_t len) {
    c->rin = data;
    c->rin_len = len;
    c->rin_pos = 0;
    int rc = wslay_event_recv(c->ws);
    c->rin = NULL;
    c->rin_len = c->rin_pos = 0;
    if (c->state == ST_CLOSED) return; /* a callback closed it */
    if (rc != 0) {
        end(c, 0, "malformed WebSocket frames from the server");
        return;
    }
    wslay_event_send(c->ws);
    flush(c);
    if (wslay_event_get_close_received(c->ws))
        end(c, wslay_event_get_status_code_received(c->ws), "the server closed the WebSocket");
}

int wsc_send(wsc *c, const uint8_t *msg, size_t len) {
    if (c->state != ST_OPEN) return -1;
    struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME, .msg = msg, .msg_length = len};
    if (wslay_event_queue_msg(c->ws, &m) != 0) return -1;
    if (wslay_event_send(c->ws) != 0) {
        end(c, 0, "could not send");
        return -1;
    }
    flush(c);
    return 0;
}

/* ---- handshake ----------------------------------------------------------------- */

/* base64 of SHA-1(key GUID) into out (29 bytes with the NUL). */
static int accept_of(const char *key, char out[32]) {
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (n < 0 || !EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    return 0;
}

/* The value of header `name` in the response headers hs (NUL-terminated),
 * copied into val. Returns 0 or -1. */
static int header_value(const char *hs, const char *name, char *val, size_t valsz) {
    size_t nlen = strlen(name);
    for (const char *line = strstr(hs, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':') continue;
        const char *v = line + nlen + 1;
        while (*v == ' ' || *v == '\t') v++;
        const char *e = strstr(v, "\r\n");
        size_t len = e != NULL ? (size_t)(e - v) : strlen(v);
        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
        if (len >= valsz) return -1;
        memcpy(val, v, len);
        val[len] = '\0';
        return 0;
    }
    return -1;
}

static void handshake_bytes(wsc *c, const uint8_t *data, size_t len) {
    size_t room = HANDSHAKE_MAX - c->hs_len;
    size_t take = len < room ? len : room;
    memcpy(c->hs + c->hs_len, data, take);
    c->hs_len += take;
    c->hs[c->hs_len] = '\0';
    char *eoh = strstr(c->hs, "\r\n\r\n");
    if (eoh == NULL) {
        if (c->hs_len == HANDSHAKE_MAX) end(c, 0, "handshake response headers too long");
        return;
    }
    size_t head_len = (size_t)(eoh + 4 - c->hs);
    eoh[2] = '\0'; /* keep the last header's CRLF for header_value */
    int status = 0;
    if (sscanf(c->hs, "HTTP/1.1 %d", &status) != 1 || status != 101) {
        end(c,
            status == 401   ? -401
            : status == 404 ? -404
                            : -1,
            status == 401   ? "handshake refused: 401 (bad token)"
            : status == 404 ? "handshake refused: 404 (no such document)"
                            : "handshake refused (not 101 Switching Protocols)");
        return;
    }
    char got[64];
    if (header_value(c->hs, "Sec-WebSocket-Accept", got, sizeof(got)) != 0 ||
        strcmp(got, c->accept) != 0) {
        end(c, -1, "handshake: wrong Sec-WebSocket-Accept");
        return;
    }
    struct wslay_event_callbacks cbs = {.recv_callback = ws_recv,
                                        .send_callback = ws_send,
                                        .genmask_callback = ws_genmask,
                                        .on_msg_recv_callback = ws_msg};
    if (wslay_event_context_client_init(&c->ws, &cbs, c) != 0) {
        end(c, -1, "out of memory");
        return;
    }
    /* Bytes of this read past the headers are the first frames. */
    size_t before = c->hs_len - take; /* bytes collected by earlier reads */
    size_t used = head_len - before;
    free(c->hs);
    c->hs = NULL;
    c->state = ST_OPEN;
    if (c->cb.on_open != NULL) c->cb.on_open(c, c->ud);
    if (c->state == ST_OPEN && used < len) feed(c, data + used, len - used);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    wsc_loop *l = h->loop->data;
    *buf = uv_buf_init((char *)l->rbuf, sizeof(l->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    wsc *c = s->data;
    if (nread < 0) {
        end(c, 0, nread == UV_EOF ? "the server closed the connection" : "read error");
        return;
    }
    if (nread == 0 || c->state == ST_CLOSED) return;
    if (c->state == ST_HANDSHAKE)
        handshake_bytes(c, (const uint8_t *)buf->base, (size_t)nread);
    else
        feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status) {
    wsc *c = req->data;
    if (c->state == ST_CLOSED) return;
    if (status < 0) {
        end(c, 0, "connect failed");
        return;
    }
    c->state = ST_HANDSHAKE;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    int rc = append(c, c->req, strlen(c->req));
    free(c->req);
    c->req = NULL;
    if (rc != 0) {
        end(c, -1, "out of memory");
        return;
    }
    flush(c);
}

int wsc_connect(uv_loop_t *loop, const struct sockaddr_in *server, const struct sockaddr_in *source,
                const char *host, const char *path, const char *headers, const wsc_callbacks *cb,
                void *ud, wsc **out) {
    wsc *c = calloc(1, sizeof(*c));
    if (c == NULL) return UV_ENOMEM;
    c->cb = *cb;
    c->ud = ud;
    c->hs = malloc(HANDSHAKE_MAX + 1);
    int rc = c->hs != NULL ? uv_tcp_init_ex(loop, &c->tcp, AF_INET) : UV_ENOMEM;
    if (rc != 0) {
        free(c->hs);
        free(c);
        return rc;
    }
    c->tcp.data = c;
    c->state = ST_CONNECTING;

    uint8_t raw[16];
    for (int i = 0; i < 2; i++) {
        uint64_t r = next_rand(c);
        memcpy(raw + 8 * i, &r, 8);
    }
    char key[32];
    EVP_EncodeBlock((unsigned char *)key, raw, 16);
    rc = accept_of(key, c->accept) == 0 ? 0 : UV_EINVAL;
    if (rc == 0) {
        size_t n =
            strlen(path) + strlen(host) + strlen(key) + (headers ? strlen(headers) : 0) + 256;
        c->req = malloc(n);
        if (c->req == NULL)
            rc = UV_ENOMEM;
        else
            snprintf(c->req, n,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, host, key, headers != NULL ? headers : "");
    }
    if (rc == 0 && source != NULL) {
        uv_os_fd_t fd;
        int one = 1;
        /* The port is chosen at connect time, per (source, destination):
         * without this, every bound socket would hold an ephemeral port of
         * its own and 28k of them would run out across all sources. */
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)source, 0);
    }
    if (rc == 0) rc = uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    if (rc == 0)
        rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)server, on_connect);
    if (rc != 0) {
        c->silent = true;
        end(c, 0, "connect failed");
        return rc;
    }
    *out = c;
    return 0;
}
