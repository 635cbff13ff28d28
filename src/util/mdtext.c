/*
 * mdtext.c - Markdown to plain text with md4c (see mdtext.h).
 *
 * md4c calls back for each block, span and run of text; this module keeps
 * the text runs that carry words and separates blocks with newlines. The
 * output never exceeds a few bytes per input byte (a newline per block,
 * an entity's expansion is shorter than the entity).
 */
#include "util/mdtext.h"

#include <md4c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int err;
    int code_block; /* inside a fenced or indented code block */
} sink;

static void put(sink *s, const char *p, size_t n) {
    if (s->err != 0 || n == 0) return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL) {
            s->err = MDTEXT_ENOMEM;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Ends the current line unless the output already ends one (or is empty). */
static void newline(sink *s) {
    if (s->len > 0 && s->buf[s->len - 1] != '\n') put(s, "\n", 1);
}

static void put_codepoint(sink *s, uint32_t c) {
    char b[4];
    size_t n;
    if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) c = 0xfffd;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xc0 | c >> 6);
        b[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xe0 | c >> 12);
        b[1] = (char)(0x80 | (c >> 6 & 0x3f));
        b[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | c >> 18);
        b[1] = (char)(0x80 | (c >> 12 & 0x3f));
        b[2] = (char)(0x80 | (c >> 6 & 0x3f));
        b[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    put(s, b, n);
}

/* "&amp;", "&#233;", "&#xE9;": the character, or a space if unknown. */
static void put_entity(sink *s, const char *p, size_t n) {
    static const struct {
        const char *name;
        uint32_t cp;
    } named[] = {{"&amp;", '&'},      {"&lt;", '<'},       {"&gt;", '>'},
                 {"&quot;", '"'},     {"&apos;", '\''},    {"&nbsp;", ' '},
                 {"&copy;", 0xa9},    {"&reg;", 0xae},     {"&hellip;", 0x2026},
                 {"&mdash;", 0x2014}, {"&ndash;", 0x2013}, {"&euro;", 0x20ac}};
    if (n >= 4 && p[1] == '#') {
        uint32_t c = 0;
        bool hex = p[2] == 'x' || p[2] == 'X';
        for (size_t i = hex ? 3 : 2; i + 1 < n && c <= 0x10ffff; i++) {
            char d = p[i];
            unsigned v = d >= '0' && d <= '9'   ? (unsigned)(d - '0')
                         : d >= 'a' && d <= 'f' ? (unsigned)(d - 'a' + 10)
                         : d >= 'A' && d <= 'F' ? (unsigned)(d - 'A' + 10)
                                                : 99;
            if (v >= (hex ? 16u : 10u)) {
                c = 0x110000;
                break;
            }
            c = c * (hex ? 16 : 10) + v;
        }
        put_codepoint(s, c);
        return;
    }
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if (strlen(named[i].name) == n && memcmp(named[i].name, p, n) == 0) {
            put_codepoint(s, named[i].cp);
            return;
        }
    }
    put(s, " ", 1);
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *ud) {
    (void)detail;
    sink *s = ud;
    if (type == MD_BLOCK_CODE) s->code_block = 1;
    if (type == MD_BLOCK_TD || type == MD_BLOCK_TH) put(s, " ", 1);
    return 0;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *ud) {
    (void)detail;
    sink *s = ud;
    if (type == MD_BLOCK_CODE) s->code_block = 0;
    if (type == MD_BLOCK_TD || type == MD_BLOCK_TH)
        put(s, " ", 1);
    else
        newline(s);
    return 0;
}

static int enter_span(MD_SPANTYPE type, void *detail, void *ud) {
    (void)type;
    (void)detail;
    (void)ud;
    return 0;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *ud) {
    (void)detail;
    sink *s = ud;
    /* An image's alt text runs into what follows without this. */
    if (type == MD_SPAN_IMG) put(s, " ", 1);
    return 0;
}

static int text(MD_TEXTTYPE type, const MD_CHAR *p, MD_SIZE n, void *ud) {
    sink *s = ud;
    switch (type) {
    case MD_TEXT_NORMAL:
    case MD_TEXT_CODE:
    case MD_TEXT_LATEXMATH: put(s, p, n); break;
    case MD_TEXT_NULLCHAR: put(s, "\xef\xbf\xbd", 3); break;
    case MD_TEXT_BR:
    case MD_TEXT_SOFTBR: put(s, "\n", 1); break;
    case MD_TEXT_ENTITY: put_entity(s, p, n); break;
    case MD_TEXT_HTML: put(s, " ", 1); break; /* a tag separates words, shows nothing */
    }
    return s->err;
}

int mdtext_plain(const char *md, size_t len, char **out, size_t *out_len) {
    if ((md == NULL && len > 0) || out == NULL || out_len == NULL) return MDTEXT_EPARSE;
    sink s = {0};
    MD_PARSER parser = {
        .abi_version = 0,
        .flags = MD_DIALECT_GITHUB | MD_FLAG_WIKILINKS | MD_FLAG_LATEXMATHSPANS,
        .enter_block = enter_block,
        .leave_block = leave_block,
        .enter_span = enter_span,
        .leave_span = leave_span,
        .text = text,
    };
    put(&s, "", 0);
    int rc = len > 0 ? md_parse(md, (MD_SIZE)len, &parser, &s) : 0;
    if (s.err == 0 && rc != 0) s.err = MDTEXT_EPARSE;
    if (s.err == 0 && s.buf == NULL) {
        s.buf = malloc(1);
        if (s.buf == NULL) s.err = MDTEXT_ENOMEM;
    }
    if (s.err != 0) {
        free(s.buf);
        return s.err;
    }
    s.buf[s.len] = '\0';
    *out = s.buf;
    *out_len = s.len;
    return MDTEXT_OK;
}
