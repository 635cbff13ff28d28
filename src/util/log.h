/*
 * log.h - structured logging: one JSON object per line on stderr.
 *
 * Every line has "ts" (RFC 3339, UTC, milliseconds), "level" and "msg"; the
 * caller adds its own fields as a jansson object. Lines are written with one
 * write(2) each, so lines from concurrent threads never interleave. Secrets
 * (tokens, passwords) must never be passed in fields.
 */
#ifndef VN_LOG_H
#define VN_LOG_H

#include <jansson.h>

typedef enum { VLOG_DEBUG, VLOG_INFO, VLOG_WARN, VLOG_ERROR } vlog_level;

/* Lines below `min` are dropped. The default is VLOG_INFO. */
void vlog_set_level(vlog_level min);

/* Parses "debug", "info", "warn" or "error"; returns 0, or -1 if unknown. */
int vlog_parse_level(const char *name, vlog_level *out);

/* Writes one line. `fields` (may be NULL) is consumed: the caller's reference
 * is released whether or not the line is written. */
void vlog(vlog_level level, const char *msg, json_t *fields);

#endif /* VN_LOG_H */
