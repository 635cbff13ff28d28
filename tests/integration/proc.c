/*
 * proc.c - child-process and HTTP helpers for integration tests (proc.h).
 */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *vaultd_path(void) {
    const char *p = getenv("VAULTD");
    return p != NULL ? p : "vaultd";
}

/* execv wants mutable strings; give it copies (the child execs or exits). */
static void exec_args(const char *const *args) {
    char *argv[64];
    int n = 0;
    for (; args[n] != NULL && n < 63; n++) argv[n] = strdup(args[n]);
    argv[n] = NULL;
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int vproc_start(vproc *p, const char *const *extra) {
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/vn-test-XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(p->log_path, sizeof(p->log_path), "%s/vaultd.log", p->dir);
    char data[300];
    snprintf(data, sizeof(data), "%s/data", p->dir);

    const char *argv[64];
    int argc = 0;
    argv[argc++] = vaultd_path();
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--data-dir";
    argv[argc++] = data;
    for (int i = 0; extra != NULL && extra[i] != NULL && argc < 63; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;

    int out[2];
    if (pipe(out) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int log = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out[1], STDOUT_FILENO);
        if (log >= 0) dup2(log, STDERR_FILENO);
        close(out[0]);
        exec_args(argv);
    }
    close(out[1]);
    p->pid = pid;

    char buf[1024];
    size_t len = 0;
    double deadline = now_s() + 30;
    while (now_s() < deadline && len < sizeof(buf) - 1) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0) continue;
        ssize_t n = read(out[0], buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = '\0';
        const char *at = strstr(buf, "listening on http://127.0.0.1:");
        if (at != NULL && strchr(at, '\n') != NULL) {
            p->port = atoi(at + strlen("listening on http://127.0.0.1:"));
            break;
        }
    }
    close(out[0]);
    if (p->port <= 0) {
        fprintf(stderr, "vaultd did not report a listening port; its output: %.*s\n", (int)len,
                buf);
        vproc_stop(p, 5);
        return -1;
    }
    return 0;
}

static int wait_exit(pid_t pid, int timeout_s) {
    double deadline = now_s() + timeout_s;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0) return -1;
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20000);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int vproc_stop(vproc *p, int timeout_s) {
    if (p->pid <= 0) return -1;
    kill(p->pid, SIGTERM);
    int rc = wait_exit(p->pid, timeout_s);
    p->pid = 0;
    return rc;
}

void vproc_cleanup(vproc *p) {
    if (p->pid > 0) vproc_stop(p, 5);
    if (p->dir[0] == '\0') return;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", p->dir);
}

int vproc_run(const char *const *args, char *out, size_t outsz) {
    const char *argv[32];
    int argc = 0;
    argv[argc++] = vaultd_path();
    for (int i = 0; args[i] != NULL && argc < 31; i++) argv[argc++] = args[i];
    argv[argc] = NULL;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        exec_args(argv);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len < outsz - 1 && (n = read(fds[0], out + len, outsz - 1 - len)) > 0) len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    return wait_exit(pid, 30);
}

int vtcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Decodes a chunked body in place; returns its length. */
static size_t dechunk(char *body, size_t len) {
    size_t in = 0, out = 0;
    while (in < len) {
        char *end;
        unsigned long n = strtoul(body + in, &end, 16);
        char *crlf = strstr(end, "\r\n");
        if (crlf == NULL || n == 0) break;
        in = (size_t)(crlf + 2 - body);
        if (in + n > len) n = len - in;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
    body[out] = '\0';
    return out;
}

int vhttp_request(int port, const char *method, const char *path, int *status, char *body,
                  size_t bodysz) {
    int fd = vtcp_connect(port);
    if (fd < 0) return -1;
    char req[1024];
    int n =
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                 method, path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    static char resp[1 << 16];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(resp) - 1 && (r = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    resp[len] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", status) != 1) return -1;
    char *hdr_end = strstr(resp, "\r\n\r\n");
    if (hdr_end == NULL) return -1;
    char *b = hdr_end + 4;
    size_t blen = len - (size_t)(b - resp);
    *hdr_end = '\0';
    if (strcasestr(resp, "transfer-encoding: chunked") != NULL) blen = dechunk(b, blen);
    if (blen >= bodysz) blen = bodysz - 1;
    memcpy(body, b, blen);
    body[blen] = '\0';
    return 0;
}

void vresp_free(vresp *r) {
    free(r->headers);
    free(r->body);
    r->headers = r->body = NULL;
}

int vhttp_call(int port, const char *method, const char *path, const char *token,
               const char *extra_headers, const char *content_type, const char *body,
               size_t body_len, vresp *out) {
    memset(out, 0, sizeof(*out));
    int fd = vtcp_connect(port);
    if (fd < 0) return -1;
    size_t hcap = 2048 + (extra_headers ? strlen(extra_headers) : 0) + strlen(path);
    char *head = malloc(hcap);
    int n = snprintf(head, hcap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                     method, path);
    if (token != NULL)
        n += snprintf(head + n, hcap - (size_t)n, "Authorization: Bearer %s\r\n", token);
    if (extra_headers != NULL) n += snprintf(head + n, hcap - (size_t)n, "%s", extra_headers);
    if (body != NULL)
        n += snprintf(head + n, hcap - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                      content_type ? content_type : "application/json", body_len);
    n += snprintf(head + n, hcap - (size_t)n, "\r\n");
    int ok = send(fd, head, (size_t)n, MSG_NOSIGNAL) == n;
    free(head);
    size_t off = 0;
    while (ok && body != NULL && off < body_len) {
        ssize_t w = send(fd, body + off, body_len - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may refuse early (413): read its answer */
        off += (size_t)w;
    }
    size_t cap = 1 << 16, len = 0;
    char *resp = malloc(cap);
    ssize_t r;
    for (;;) {
        if (len + 1 >= cap) resp = realloc(resp, cap *= 2);
        r = read(fd, resp + len, cap - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    resp[len] = '\0';
    char *hdr_end = strstr(resp, "\r\n\r\n");
    if (!ok || hdr_end == NULL || sscanf(resp, "HTTP/1.%*d %d", &out->status) != 1) {
        free(resp);
        return -1;
    }
    *hdr_end = '\0';
    out->headers = strdup(resp);
    char *b = hdr_end + 4;
    size_t blen = len - (size_t)(b - resp);
    if (strcasestr(out->headers, "transfer-encoding: chunked") != NULL) blen = dechunk(b, blen);
    out->body = malloc(blen + 1);
    memcpy(out->body, b, blen);
    out->body[blen] = '\0';
    out->body_len = blen;
    free(resp);
    return 0;
}

const char *vresp_header(const vresp *r, const char *name, char *buf, size_t bufsz) {
    size_t n = strlen(name);
    for (const char *line = r->headers; line != NULL && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t llen = eol ? (size_t)(eol - line) : strlen(line);
        if (llen > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
            const char *v = line + n + 1;
            while (*v == ' ') v++;
            size_t vlen = llen - (size_t)(v - line);
            if (vlen >= bufsz) vlen = bufsz - 1;
            memcpy(buf, v, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

char *vread_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s != NULL) {
        size_t got = fread(s, 1, (size_t)n, f);
        s[got] = '\0';
    }
    fclose(f);
    return s;
}
