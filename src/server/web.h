/*
 * web.h - serves the web app's built files (web/dist) from vaultd.
 *
 * A GET or HEAD whose path no route claims and that is not under /api/ is
 * answered from the web directory: an existing regular file with its content
 * type (h2o's MIME map), else index.html when the last path segment has no
 * dot (a client-side route such as /v/<vault>/n/<note>), else 404. Nothing
 * outside the directory is ever served (the resolved path must stay under
 * it), directories are never listed, and hidden files (a segment starting
 * with '.') are not served. Hashed build assets (/assets/...) are cached by
 * browsers for a year; everything else is revalidated on each load.
 */
#ifndef VN_WEB_H
#define VN_WEB_H

#include <h2o.h>

typedef struct vweb vweb;

/* Opens the web directory `dir`, which must hold an index.html. Returns 0
 * and *out (free with vweb_free), or -1 with a sentence in err. */
int vweb_open(const char *dir, vweb **out, char *err, size_t errsz);

/* NULL is a no-op. */
void vweb_free(vweb *w);

/* Whether `req` is the web app's to answer: a GET or HEAD not under /api/.
 * (The caller asks only after no route matched the path.) */
int vweb_wants(const h2o_req_t *req);

/* Answers `req` from the web directory, as described above (a file, the
 * index.html of a client-side route, or a 404 problem). */
void vweb_serve(vweb *w, h2o_req_t *req);

#endif /* VN_WEB_H */
