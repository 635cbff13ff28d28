/*
 * folder.c - folder.h: directory walks with openat/fstatat, atomic writes
 * with a temporary file, rename(2) and renameat2(RENAME_NOREPLACE).
 */
#include "client/folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    folder_entry *a;
    size_t n, cap;
} elist;

static int push(elist *l, const char *lpath, const struct stat *st) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        folder_entry *b = realloc(l->a, cap * sizeof(*b));
        if (b == NULL) return -1;
        l->a = b;
        l->cap = cap;
    }
    folder_entry *e = &l->a[l->n];
    e->lpath = strdup(lpath);
    if (e->lpath == NULL) return -1;
    e->size = st->st_size;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    e->ino = st->st_ino;
    l->n++;
    return 0;
}

static int walk(const char *root, const char *rel, elist *l,
                void (*dirs)(void *ud, const char *lpath), void *ud, char *err, size_t errlen) {
    char path[8192];
    snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(err, errlen, "cannot read folder %s: %s", path, strerror(errno));
        return -1;
    }
    if (dirs != NULL) dirs(ud, rel);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char child[8192];
        int n = snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof(child)) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* gone */
        if (S_ISDIR(st.st_mode))
            rc = walk(root, child, l, dirs, ud, err, errlen);
        else if (S_ISREG(st.st_mode) && push(l, child, &st) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const folder_entry *)a)->lpath, ((const folder_entry *)b)->lpath);
}

int folder_list(const char *root, folder_entry **out, size_t *n,
                void (*dirs)(void *ud, const char *lpath), void *ud, char *err, size_t errlen) {
    elist l = {0};
    if (walk(root, "", &l, dirs, ud, err, errlen) != 0) {
        folder_entries_free(l.a, l.n);
        return -1;
    }
    if (l.n > 1) qsort(l.a, l.n, sizeof(*l.a), cmp_entry);
    *out = l.a;
    *n = l.n;
    return 0;
}

void folder_entries_free(folder_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) free(e[i].lpath);
    free(e);
}

uint64_t folder_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h & 0x7fffffffffffffffull; /* fits SQLite's signed integers unchanged */
}

static void fill(folder_entry *e, const struct stat *st) {
    e->lpath = NULL;
    e->size = st->st_size;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    e->ino = st->st_ino;
}

static void full(char *buf, size_t sz, const char *root, const char *lpath) {
    snprintf(buf, sz, "%s/%s", root, lpath);
}

int folder_stat(const char *root, const char *lpath, folder_entry *e) {
    char p[8192];
    full(p, sizeof(p), root, lpath);
    struct stat st;
    if (lstat(p, &st) != 0) return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EISDIR;
        return -1;
    }
    fill(e, &st);
    return 0;
}

int folder_read(const char *root, const char *lpath, size_t max, char **data, size_t *len,
                folder_entry *e) {
    char p[8192];
    full(p, sizeof(p), root, lpath);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return 1;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (n + 1 >= cap) { /* the file grew while we read it */
            if (cap > max + 1) {
                free(buf);
                close(fd);
                return 1;
            }
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e2 = errno;
            free(buf);
            close(fd);
            errno = e2;
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    /* the stat that goes with the content: taken after the read */
    if (fstat(fd, &st) != 0) st.st_size = (off_t)n;
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    fill(e, &st);
    if ((int64_t)n != e->size) e->mtime_ns = -1; /* changing under us: never matches */
    return 0;
}

int folder_check(const char *root, const char *lpath, const folder_expect *x) {
    folder_entry cur;
    if (folder_stat(root, lpath, &cur) != 0) {
        if (errno != ENOENT) return FOLDER_ERR;
        return x->exists ? FOLDER_CHANGED : FOLDER_OK;
    }
    if (!x->exists) return FOLDER_CHANGED;
    if (cur.size == x->size && cur.mtime_ns == x->mtime_ns && cur.ino == x->ino) return FOLDER_OK;
    if (cur.size != x->size) return FOLDER_CHANGED;
    char *data;
    size_t len;
    int r = folder_read(root, lpath, (size_t)x->size + 1, &data, &len, &cur);
    if (r == 1) return FOLDER_CHANGED;
    if (r != 0) return errno == ENOENT ? FOLDER_CHANGED : FOLDER_ERR;
    uint64_t h = folder_hash(data, len);
    free(data);
    return h == x->hash ? FOLDER_OK : FOLDER_CHANGED;
}

static int mkparents(const char *root, const char *lpath) {
    char p[8192];
    full(p, sizeof(p), root, lpath);
    size_t rl = strlen(root) + 1;
    for (char *s = p + rl; *s != '\0'; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    return 0;
}

/* A test hook (docs/cli.md): with VN_TEST_PAUSE_DIR set, every write stops
 * just before its last check, announces itself in DIR/paused (the path it
 * writes) and waits up to 60 s for DIR/resume, so a test can edit the file
 * "during the sync" at exactly that moment. */
static void test_pause(const char *lpath) {
    const char *dir = getenv("VN_TEST_PAUSE_DIR");
    if (dir == NULL || dir[0] == '\0') return;
    char paused[4096], resume[4096];
    snprintf(paused, sizeof(paused), "%s/paused", dir);
    snprintf(resume, sizeof(resume), "%s/resume", dir);
    FILE *f = fopen(paused, "w");
    if (f == NULL) return;
    fputs(lpath, f);
    fclose(f);
    for (int i = 0; i < 6000 && access(resume, F_OK) != 0; i++) usleep(10000);
    unlink(resume);
    unlink(paused);
}

int folder_sync(const char *root) {
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = syncfs(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

int folder_prepare(const char *root, const char *lpath, const char *data, size_t len, bool sync,
                   folder_tmp *t) {
    memset(t, 0, sizeof(*t));
    if (mkparents(root, lpath) != 0) return FOLDER_ERR;
    char dst[8192];
    full(dst, sizeof(dst), root, lpath);
    const char *slash = strrchr(dst, '/');
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) rnd = (uint32_t)getpid();
    snprintf(t->path, sizeof(t->path), "%.*s/.vn-tmp-%08x", (int)(slash - dst), dst, rnd);
    int fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return FOLDER_ERR;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(t->path);
            errno = e;
            return FOLDER_ERR;
        }
        off += (size_t)w;
    }
    struct stat st;
    if ((sync && fsync(fd) != 0) || fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        unlink(t->path);
        errno = e;
        return FOLDER_ERR;
    }
    close(fd);
    fill(&t->st, &st);
    return FOLDER_OK;
}

void folder_discard(folder_tmp *t) {
    if (t->path[0] != '\0') unlink(t->path);
    t->path[0] = '\0';
}

int folder_commit(const char *root, const char *lpath, folder_tmp *t, const folder_expect *expect,
                  folder_entry *out) {
    char dst[8192];
    full(dst, sizeof(dst), root, lpath);
    test_pause(lpath);
    int c = folder_check(root, lpath, expect);
    if (c != FOLDER_OK) {
        int e = errno;
        folder_discard(t);
        errno = e;
        return c;
    }
    int r = expect->exists ? rename(t->path, dst)
                           : renameat2(AT_FDCWD, t->path, AT_FDCWD, dst, RENAME_NOREPLACE);
    if (r != 0) {
        int e = errno;
        folder_discard(t);
        if (e == EEXIST) return FOLDER_CHANGED;
        errno = e;
        return FOLDER_ERR;
    }
    t->path[0] = '\0';
    *out = t->st;
    return FOLDER_OK;
}

int folder_write(const char *root, const char *lpath, const char *data, size_t len,
                 const folder_expect *expect, bool defer_sync, folder_entry *out) {
    folder_tmp t;
    int r = folder_prepare(root, lpath, data, len, !defer_sync, &t);
    if (r != FOLDER_OK) return r;
    return folder_commit(root, lpath, &t, expect, out);
}

int folder_rename(const char *root, const char *from, const char *to) {
    if (mkparents(root, to) != 0) return FOLDER_ERR;
    char a[8192], b[8192];
    full(a, sizeof(a), root, from);
    full(b, sizeof(b), root, to);
    if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST || errno == ENOENT) return FOLDER_CHANGED;
        return FOLDER_ERR;
    }
    folder_prune(root, from);
    return FOLDER_OK;
}

int folder_remove(const char *root, const char *lpath, const folder_expect *expect) {
    int c = folder_check(root, lpath, expect);
    if (c != FOLDER_OK) return c;
    char p[8192];
    full(p, sizeof(p), root, lpath);
    if (unlink(p) != 0 && errno != ENOENT) return FOLDER_ERR;
    folder_prune(root, lpath);
    return FOLDER_OK;
}

void folder_prune(const char *root, const char *lpath) {
    char p[8192];
    full(p, sizeof(p), root, lpath);
    size_t rl = strlen(root);
    for (;;) {
        char *s = strrchr(p, '/');
        if (s == NULL || (size_t)(s - p) <= rl) return;
        *s = '\0';
        if (rmdir(p) != 0) return;
    }
}
