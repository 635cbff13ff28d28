/*
 * proc.h - helpers for integration tests: run vaultd as a child process on a
 * free port, talk HTTP/1.1 to it over a plain socket, stop it and collect its
 * exit status and logs.
 */
#ifndef VN_TEST_PROC_H
#define VN_TEST_PROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[256];      /* temporary directory: data dir and log files */
    char log_path[300]; /* the child's stderr */
} vproc;

/* Starts $VAULTD with `--listen 127.0.0.1:0 --data-dir <tmp>/data` plus
 * `extra` arguments (NULL-terminated, may be NULL), and waits (up to 30 s)
 * for it to print its URL. Returns 0, or -1 with a message on stderr. */
int vproc_start(vproc *p, const char *const *extra);

/* Sends SIGTERM and waits up to `timeout_s` seconds. Returns the exit status
 * (0..255), 128+signal if it died of a signal, or -1 on timeout (the child
 * is then killed). */
int vproc_stop(vproc *p, int timeout_s);

/* Removes the temporary directory. */
void vproc_cleanup(vproc *p);

/* Runs $VAULTD with `args` (NULL-terminated) to completion, capturing up to
 * outsz-1 bytes of stdout+stderr into out. Returns the exit status or -1. */
int vproc_run(const char *const *args, char *out, size_t outsz);

/* One HTTP/1.1 request with Connection: close. Fills *status and up to
 * bodysz-1 bytes of the body (NUL-terminated). Returns 0 or -1. */
int vhttp_request(int port, const char *method, const char *path, int *status, char *body,
                  size_t bodysz);

/* A response: status, headers (raw, lowercase names not guaranteed) and
 * body (de-chunked), both NUL-terminated and malloc'd: vresp_free. */
typedef struct {
    int status;
    char *headers;
    char *body;
    size_t body_len;
} vresp;

void vresp_free(vresp *r);

/* One HTTP/1.1 request with Connection: close. `token` (may be NULL) goes
 * in an Authorization: Bearer header, `extra_headers` (may be NULL) is
 * inserted verbatim ("Name: value\r\n" lines), `body` (may be NULL) is
 * sent with `content_type` (NULL: application/json). Returns 0 or -1. */
int vhttp_call(int port, const char *method, const char *path, const char *token,
               const char *extra_headers, const char *content_type, const char *body,
               size_t body_len, vresp *out);

/* The value of response header `name` (case-insensitive) copied into buf,
 * or NULL if absent. */
const char *vresp_header(const vresp *r, const char *name, char *buf, size_t bufsz);

/* Opens a TCP connection to 127.0.0.1:port; returns the fd or -1. */
int vtcp_connect(int port);

/* Reads the whole file into a NUL-terminated malloc'd string (caller frees),
 * or NULL. */
char *vread_file(const char *path);

#endif /* VN_TEST_PROC_H */
