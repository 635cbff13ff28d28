/*
 * log.c - JSON log lines on stderr (see log.h).
 *
 * Invariant: a line is built completely in memory and written with a single
 * write(2); a failure to build it drops the line rather than writing half.
 */
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static vlog_level log_min = VLOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void vlog_set_level(vlog_level min) { log_min = min; }

int vlog_parse_level(const char *name, vlog_level *out) {
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (vlog_level)i;
            return 0;
        }
    }
    return -1;
}

static void format_time(char *buf, size_t len) {
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void vlog(vlog_level level, const char *msg, json_t *fields) {
    if (level < log_min) {
        json_decref(fields);
        return;
    }
    char ts[40];
    format_time(ts, sizeof(ts));
    json_t *line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "msg", msg);
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    if (fields != NULL) json_object_update(line, fields);
    json_decref(fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (text == NULL) return;
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room for the terminator; reuse it */
    const char *p = text;
    size_t left = n + 1;
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
    free(text);
}
