/*
 * cfg.h - the user's vn configuration: the server URL and the session token
 * from `vn login`, kept in $XDG_CONFIG_HOME/vn/config (else
 * ~/.config/vn/config), a file of "key=value" lines created with mode 0600
 * in a directory of mode 0700 and replaced atomically.
 */
#ifndef VN_CLIENT_CFG_H
#define VN_CLIENT_CFG_H

#include <stddef.h>

typedef struct {
    char url[1024];
    char token[256];
    char email[320];
} cfg;

/* The config file's path into buf. Returns 0, or -1 when neither
 * XDG_CONFIG_HOME nor HOME is set (or the path is too long). */
int cfg_path(char *buf, size_t bufsz);

/* Loads the config. Returns 0 (fields read; missing ones are ""), 1 when
 * there is no config file (c is all empty), -1 on a read error (err says
 * why). */
int cfg_load(cfg *c, char *err, size_t errlen);

/* Writes c atomically (temporary file of mode 0600, fsync, rename).
 * Returns 0 or -1 with err set; on error the old file is untouched. */
int cfg_save(const cfg *c, char *err, size_t errlen);

/* Removes the config file (logout). Returns 0 (also when absent) or -1. */
int cfg_remove(char *err, size_t errlen);

#endif /* VN_CLIENT_CFG_H */
