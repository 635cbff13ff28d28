/*
 * cfg.c - the config file of cfg.h.
 */
#include "client/cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cfg_dir(char *buf, size_t bufsz) {
    const char *x = getenv("XDG_CONFIG_HOME");
    int n;
    if (x != NULL && x[0] == '/') {
        n = snprintf(buf, bufsz, "%s/vn", x);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0') return -1;
        n = snprintf(buf, bufsz, "%s/.config/vn", home);
    }
    return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

int cfg_path(char *buf, size_t bufsz) {
    char dir[900];
    if (cfg_dir(dir, sizeof(dir)) != 0) return -1;
    int n = snprintf(buf, bufsz, "%s/config", dir);
    return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

int cfg_load(cfg *c, char *err, size_t errlen) {
    memset(c, 0, sizeof(*c));
    char path[1024];
    if (cfg_path(path, sizeof(path)) != 0) {
        snprintf(err, errlen, "neither XDG_CONFIG_HOME nor HOME is set");
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) return 1;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL) continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(line, "url") == 0) snprintf(c->url, sizeof(c->url), "%s", v);
        if (strcmp(line, "token") == 0) snprintf(c->token, sizeof(c->token), "%s", v);
        if (strcmp(line, "email") == 0) snprintf(c->email, sizeof(c->email), "%s", v);
    }
    fclose(f);
    return 0;
}

static int mkdir_p(const char *dir, mode_t mode) {
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
    return 0;
}

int cfg_save(const cfg *c, char *err, size_t errlen) {
    char dir[900], path[1024], tmp[1100];
    if (cfg_dir(dir, sizeof(dir)) != 0 || cfg_path(path, sizeof(path)) != 0) {
        snprintf(err, errlen, "neither XDG_CONFIG_HOME nor HOME is set");
        return -1;
    }
    if (mkdir_p(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    char buf[2048];
    int n = snprintf(buf, sizeof(buf),
                     "# vn login: keep this file private\nurl=%s\nemail=%s\ntoken=%s\n", c->url,
                     c->email, c->token);
    int ok = n > 0 && (size_t)n < sizeof(buf) && fchmod(fd, 0600) == 0 &&
             write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        if (ok) saved = errno;
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

int cfg_remove(char *err, size_t errlen) {
    char path[1024];
    if (cfg_path(path, sizeof(path)) != 0) {
        snprintf(err, errlen, "neither XDG_CONFIG_HOME nor HOME is set");
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
