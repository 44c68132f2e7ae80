/* yaml_config.c — the strict YAML loader behind config.h, and drum's job config schema.
 *
 * libyaml's document API gives a node tree with line/column marks; the loader walks it
 * against the schema tables. Values and text defaults go through the same converters, so a
 * default can never be something a config file could not say.
 */
#include "drum/config.h"
#include "drum/error.h"
#include "drum/fileio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <yaml.h>

static int table_len(const drum_cfg_field *t) {
    int n = 0;
    while (t[n].key) n++;
    return n;
}

/* ---- scalar conversions ------------------------------------------------------------------- */

/* Decimal digits without a leading zero ("017": YAML 1.1 reads octal, 1.2 decimal). */
static int decimal_digits(const char *d) {
    return *d && strspn(d, "0123456789") == strlen(d) && !(d[0] == '0' && d[1]);
}

static int parse_ll(const char *s, long long *out) {
    if (!decimal_digits(s + (*s == '-' || *s == '+'))) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    if (!decimal_digits(s + (*s == '+'))) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Decimal floats only ("1e-4", "-0.5", "3"): no hex, inf or nan. */
static int parse_double(const char *s, double *out) {
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s) || !strpbrk(s, "0123456789")) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int name_index(const char *const *names, const char *s) {
    for (int i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

/* "one of: a, b, c" into buf. */
static void names_text(const char *const *names, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
}

/* What a field accepts, for messages: "an integer in [1, 100]", "one of: cpu, cuda". */
static void expected_text(const drum_cfg_field *f, char *buf, size_t len) {
    char range[96] = "", names[256] = "";
    if (f->ranged) snprintf(range, sizeof range, " in [%g, %g]", f->min, f->max);
    if (f->names) names_text(f->names, names, sizeof names);
    switch (f->type) {
    case DRUM_CFG_INT: snprintf(buf, len, "an integer%s", range); break;
    case DRUM_CFG_U64: snprintf(buf, len, "a non-negative integer%s", range); break;
    case DRUM_CFG_FLOAT: snprintf(buf, len, "a number%s", range); break;
    case DRUM_CFG_BOOL: snprintf(buf, len, "true or false"); break;
    case DRUM_CFG_STRING: snprintf(buf, len, "a string"); break;
    case DRUM_CFG_ENUM: snprintf(buf, len, "one of: %s", names); break;
    case DRUM_CFG_INT_LIST: snprintf(buf, len, "a list of integers%s", range); break;
    case DRUM_CFG_STRING_LIST:
        if (f->names)
            snprintf(buf, len, "a list of names from: %s", names);
        else
            snprintf(buf, len, "a list of strings");
        break;
    case DRUM_CFG_SECTION: snprintf(buf, len, "a mapping (section)"); break;
    }
}

static int in_range(const drum_cfg_field *f, double v) {
    return !f->ranged || (v >= f->min && v <= f->max);
}

/* Converts text s for a scalar field, or for one item of a list field, and stores it at p
 * (an int, uint64_t, double or char *; a replaced string is freed). Returns 0, -1 when s is
 * not a valid value, or CFG_OOM when out of memory. */
enum { CFG_OOM = -2 };

static int convert_scalar(const drum_cfg_field *f, void *p, const char *s) {
    switch (f->type) {
    case DRUM_CFG_INT:
    case DRUM_CFG_INT_LIST: {
        long long v;
        if (parse_ll(s, &v) != 0 || v < INT_MIN || v > INT_MAX || !in_range(f, (double)v)) return -1;
        *(int *)p = (int)v;
        return 0;
    }
    case DRUM_CFG_U64: {
        uint64_t v;
        if (parse_u64(s, &v) != 0 || !in_range(f, (double)v)) return -1;
        *(uint64_t *)p = v;
        return 0;
    }
    case DRUM_CFG_FLOAT: {
        double v;
        if (parse_double(s, &v) != 0 || !in_range(f, v)) return -1;
        *(double *)p = v;
        return 0;
    }
    case DRUM_CFG_BOOL:
        if (strcmp(s, "true") == 0) {
            *(int *)p = 1;
        } else if (strcmp(s, "false") == 0) {
            *(int *)p = 0;
        } else {
            return -1;
        }
        return 0;
    case DRUM_CFG_ENUM: {
        int k = name_index(f->names, s);
        if (k < 0) return -1;
        *(int *)p = k;
        return 0;
    }
    case DRUM_CFG_STRING:
    case DRUM_CFG_STRING_LIST: {
        if (f->type == DRUM_CFG_STRING_LIST && f->names && name_index(f->names, s) < 0) return -1;
        char *d = strdup(s);
        if (!d) return CFG_OOM;
        if (f->type == DRUM_CFG_STRING) free(*(char **)p);
        *(char **)p = d;
        return 0;
    }
    case DRUM_CFG_SECTION: return -1;
    }
    return -1;
}

static void free_int_list(drum_cfg_int_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void free_str_list(drum_cfg_str_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Appends one converted item to a list under construction; returns as convert_scalar. */
static int list_push(const drum_cfg_field *f, void *list, const char *s) {
    int rc;
    if (f->type == DRUM_CFG_INT_LIST) {
        drum_cfg_int_list *l = list;
        int v;
        if ((rc = convert_scalar(f, &v, s)) != 0) return rc;
        int *nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
        if (!nv) return CFG_OOM;
        l->v = nv;
        l->v[l->n++] = v;
        return 0;
    }
    drum_cfg_str_list *l = list;
    char *v = NULL;
    if ((rc = convert_scalar(f, &v, s)) != 0) return rc;
    char **nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
    if (!nv) {
        free(v);
        return CFG_OOM;
    }
    l->v = nv;
    l->v[l->n++] = v;
    return 0;
}

/* Moves a freshly built list into the field, freeing the old one. */
static void list_replace(const drum_cfg_field *f, void *dst, void *src) {
    if (f->type == DRUM_CFG_INT_LIST) {
        free_int_list(dst);
        *(drum_cfg_int_list *)dst = *(drum_cfg_int_list *)src;
    } else {
        free_str_list(dst);
        *(drum_cfg_str_list *)dst = *(drum_cfg_str_list *)src;
    }
}

static void list_discard(const drum_cfg_field *f, void *l) {
    if (f->type == DRUM_CFG_INT_LIST)
        free_int_list(l);
    else
        free_str_list(l);
}

/* ---- defaults and freeing ----------------------------------------------------------------- */

static int defaults_rec(const drum_cfg_field *t, char *obj, const char *prefix, char *err,
                        size_t errlen) {
    for (int i = 0; t[i].key; i++) {
        const drum_cfg_field *f = &t[i];
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", f->key);
        void *p = obj + f->offset;
        int rc = 0;
        if (f->type == DRUM_CFG_SECTION) {
            if (defaults_rec(f->section, p, full, err, errlen) != 0) return -1;
            continue;
        }
        const char *def = f->def ? f->def : "";
        if (f->type == DRUM_CFG_INT_LIST || f->type == DRUM_CFG_STRING_LIST) {
            union {
                drum_cfg_int_list i;
                drum_cfg_str_list s;
            } l;
            memset(&l, 0, sizeof l);
            const char *s = def;
            while (*s && rc == 0) {
                size_t n = strcspn(s, ",");
                char item[256];
                snprintf(item, sizeof item, "%.*s", (int)n, s);
                rc = list_push(f, &l, item);
                s += n + (s[n] == ',');
            }
            if (rc == 0)
                list_replace(f, p, &l);
            else
                list_discard(f, &l);
        } else {
            rc = convert_scalar(f, p, def);
        }
        if (rc == 0 && f->check) {
            char msg[256];
            if (f->check(p, msg, sizeof msg) != 0) {
                drum_errorf(err, errlen, "default of '%s' (\"%s\"): %s", full, def, msg);
                return -1;
            }
        }
        if (rc == CFG_OOM) return drum_errorf(err, errlen, "default of '%s': out of memory", full);
        if (rc != 0) {
            char want[320];
            expected_text(f, want, sizeof want);
            drum_errorf(err, errlen, "default of '%s' (\"%s\"): expected %s", full, def, want);
            return -1;
        }
    }
    return 0;
}

int drum_cfg_defaults(const drum_cfg_field *schema, void *obj, char *err, size_t errlen) {
    return defaults_rec(schema, obj, "", err, errlen);
}

void drum_cfg_free(const drum_cfg_field *schema, void *obj) {
    for (int i = 0; schema[i].key; i++) {
        const drum_cfg_field *f = &schema[i];
        void *p = (char *)obj + f->offset;
        switch (f->type) {
        case DRUM_CFG_STRING:
            free(*(char **)p);
            *(char **)p = NULL;
            break;
        case DRUM_CFG_INT_LIST: free_int_list(p); break;
        case DRUM_CFG_STRING_LIST: free_str_list(p); break;
        case DRUM_CFG_SECTION: drum_cfg_free(f->section, p); break;
        default: break;
        }
    }
}

/* ---- applying a YAML node tree ------------------------------------------------------------- */

typedef struct {
    const char *where; /* the file name, or the override text */
    int is_override;
    const char *text;  /* what the parser reads (the file's bytes, or the override's value) */
    size_t len;
    yaml_document_t *doc;
    /* the key whose value is an alias (`seed: *a`) being applied: errors inside the anchored
     * value are reported where it is used, not at the anchor */
    const yaml_node_t *use;
    char *err;
    size_t errlen;
} load_ctx;

/* s for a message, at most max bytes of it: bytes that are not UTF-8, and control
 * characters, as \xNN (a message must not carry them to a terminal or a log); a cut never
 * splits a character. */
static const char *shown(const char *s, size_t max, char *buf, size_t n) {
    size_t o = 0;
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    while (*u && o + 5 < n && (size_t)(u - (const utf8proc_uint8_t *)s) < max) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(u, -1, &cp);
        if (k <= 0 || cp < 0x20 || cp == 0x7F) {
            o += (size_t)snprintf(buf + o, n - o, "\\x%02X", *u);
            u++;
        } else if (o + (size_t)k < n) {
            memcpy(buf + o, u, (size_t)k);
            o += (size_t)k;
            u += k;
        } else {
            break;
        }
    }
    snprintf(buf + o, n - o, "%s", *u ? "..." : "");
    return buf;
}

/* Writes "file:line:col: key 'k': <message>" (or "override 'a=b': key 'k': ...") and
 * returns -1; at is the position (NULL: the start). */
static int vfail(load_ctx *c, const yaml_mark_t *at, const char *key, const char *fmt,
                 va_list ap) {
    char msg[768], loc[400], anchored[80] = "", text[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->is_override) {
        snprintf(loc, sizeof loc, "override '%s'", shown(c->where, 200, text, sizeof text));
    } else {
        if (at && c->use && at->index < c->use->start_mark.index) {
            snprintf(anchored, sizeof anchored, " (in the value of the anchor at line %zu)",
                     at->line + 1);
            at = &c->use->start_mark;
        }
        snprintf(loc, sizeof loc, "%s:%zu:%zu", c->where, at ? at->line + 1 : 1,
                 at ? at->column + 1 : 1);
    }
    if (key)
        drum_errorf(c->err, c->errlen, "%s: key '%s': %s%s", loc, key, msg, anchored);
    else
        drum_errorf(c->err, c->errlen, "%s: %s%s", loc, msg, anchored);
    return -1;
}

static int fail_mark(load_ctx *c, const yaml_mark_t *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_mark(load_ctx *c, const yaml_mark_t *at, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, at, key, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_at(load_ctx *c, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(load_ctx *c, const yaml_node_t *node, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, node ? &node->start_mark : NULL, key, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *node_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "a scalar";
    }
}

static int is_plain(const yaml_node_t *n) { return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE; }

static int is_null(const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    return is_plain(n) && (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
                           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

/* What the scalar node holds, for messages: 'abc' or the string "3" or null. */
static void got_text(const yaml_node_t *n, char *buf, size_t len) {
    char text[320];
    shown((const char *)n->data.scalar.value, 60, text, sizeof text);
    if (is_null(n))
        snprintf(buf, len, "null");
    else if (is_plain(n))
        snprintf(buf, len, "'%s'", text);
    else
        snprintf(buf, len, "the quoted string \"%s\"", text);
}

/* Why a plain scalar that reads as a number is still refused, for the message ("" when the
 * expectation says it all). */
static const char *number_hint(const drum_cfg_field *f, const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    const char *d = s + (*s == '-' || *s == '+');
    int integer =
        f->type == DRUM_CFG_INT || f->type == DRUM_CFG_U64 || f->type == DRUM_CFG_INT_LIST;
    if (!is_plain(n)) return "";
    if (integer && d[0] == '0' && d[1] && strspn(d, "0123456789") == strlen(d))
        return " (a leading zero: YAML 1.1 reads it as octal, 1.2 as decimal; write the number "
               "without it)";
    if (f->type == DRUM_CFG_FLOAT && strspn(s, "0123456789+-.eE") == strlen(s)) {
        errno = 0;
        double v = strtod(s, NULL);
        if (errno == ERANGE && fabs(v) < 1)
            return " (below the smallest normal double, 2.2e-308: write 0 or a larger number)";
    }
    return "";
}

/* The scalar as libyaml read it holds a NUL ("\0" escaped): drum's strings would end there,
 * so "seed\0junk" would read as seed and "cuda\0x" as cuda. */
static int has_nul(const yaml_node_t *n) {
    return strlen((const char *)n->data.scalar.value) != n->data.scalar.length;
}

/* Numbers and booleans must be plain scalars: a quoted "3" is a string. */
static int scalar_ok_for(const drum_cfg_field *f, const yaml_node_t *n) {
    if (f->type == DRUM_CFG_STRING || f->type == DRUM_CFG_ENUM || f->type == DRUM_CFG_STRING_LIST)
        return f->type == DRUM_CFG_STRING || !is_null(n);
    return is_plain(n) && !is_null(n);
}

static int apply_mapping(load_ctx *c, const drum_cfg_field *t, char *obj, yaml_node_t *map,
                         const char *prefix);

static int run_check(load_ctx *c, const drum_cfg_field *f, void *p, yaml_node_t *n,
                     const char *key) {
    char msg[256];
    if (f->check && f->check(p, msg, sizeof msg) != 0) return fail_at(c, n, key, "%s", msg);
    return 0;
}

static int apply_field(load_ctx *c, const drum_cfg_field *f, void *p, yaml_node_t *n,
                       const char *key) {
    char want[320], got[400];
    expected_text(f, want, sizeof want);
    if (f->type == DRUM_CFG_SECTION) {
        if (n->type != YAML_MAPPING_NODE)
            return fail_at(c, n, key, "expected %s, got %s", want, node_kind(n));
        return apply_mapping(c, f->section, p, n, key);
    }
    if (f->type == DRUM_CFG_INT_LIST || f->type == DRUM_CFG_STRING_LIST) {
        if (n->type != YAML_SEQUENCE_NODE) {
            if (n->type == YAML_SCALAR_NODE) {
                got_text(n, got, sizeof got);
                return fail_at(c, n, key, "expected %s, got %s", want, got);
            }
            return fail_at(c, n, key, "expected %s, got %s", want, node_kind(n));
        }
        union {
            drum_cfg_int_list i;
            drum_cfg_str_list s;
        } l;
        memset(&l, 0, sizeof l);
        int idx = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++, idx++) {
            yaml_node_t *e = yaml_document_get_node(c->doc, *it);
            char ikey[300];
            snprintf(ikey, sizeof ikey, "%s[%d]", key, idx);
            if (e->type == YAML_SCALAR_NODE && has_nul(e)) {
                list_discard(f, &l);
                return fail_at(c, e, ikey, "a NUL character (\\0) in the value; expected text "
                               "without one");
            }
            int pushed = e->type != YAML_SCALAR_NODE || !scalar_ok_for(f, e)
                             ? -1
                             : list_push(f, &l, (const char *)e->data.scalar.value);
            if (pushed == CFG_OOM) {
                list_discard(f, &l);
                return fail_at(c, e, ikey, "out of memory");
            }
            if (pushed != 0) {
                if (e->type == YAML_SCALAR_NODE)
                    got_text(e, got, sizeof got);
                else
                    snprintf(got, sizeof got, "%s", node_kind(e));
                list_discard(f, &l);
                return fail_at(c, e, ikey, "expected %s, got %s%s", want, got,
                               e->type == YAML_SCALAR_NODE ? number_hint(f, e) : "");
            }
        }
        list_replace(f, p, &l);
        return run_check(c, f, p, n, key);
    }
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(c, n, key, "expected %s, got %s", want, node_kind(n));
    if (has_nul(n))
        return fail_at(c, n, key, "a NUL character (\\0) in the value; expected text without one");
    const char *s = (const char *)n->data.scalar.value;
    if (f->type == DRUM_CFG_STRING && is_null(n)) s = "";
    int converted = scalar_ok_for(f, n) ? convert_scalar(f, p, s) : -1;
    if (converted == CFG_OOM) return fail_at(c, n, key, "out of memory");
    if (converted != 0) {
        got_text(n, got, sizeof got);
        return fail_at(c, n, key, "expected %s, got %s%s", want, got, number_hint(f, n));
    }
    return run_check(c, f, p, n, key);
}

/* "a, b, c": the keys of one level of the schema, for messages. */
static void key_names(const drum_cfg_field *t, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; t[i].key && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", t[i].key);
}

static int apply_mapping(load_ctx *c, const drum_cfg_field *t, char *obj, yaml_node_t *map,
                         const char *prefix) {
    int nf = table_len(t);
    size_t *seen = calloc((size_t)nf + 1, sizeof *seen); /* line of the first occurrence */
    if (!seen) return fail_at(c, map, NULL, "out of memory");
    int rc = 0;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top && rc == 0; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pr->value);
        if (k->type != YAML_SCALAR_NODE) {
            rc = fail_at(c, k, NULL, "a key in '%s' must be a plain name, got %s",
                         *prefix ? prefix : "(top level)", node_kind(k));
            break;
        }
        const char *name = (const char *)k->data.scalar.value;
        char full[256], text[300];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "",
                 shown(name, 200, text, sizeof text));
        if (has_nul(k)) {
            rc = fail_at(c, k, full, "a NUL character (\\0) in the key; expected a plain name");
            break;
        }
        int idx = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(t[i].key, name) == 0) idx = i;
        if (idx < 0) {
            char keys[1024];
            key_names(t, keys, sizeof keys);
            rc = fail_at(c, k, full, "unknown key; expected one of: %s", keys);
            break;
        }
        if (seen[idx]) {
            rc = fail_at(c, k, full, "duplicate key (first set at line %zu); expected each key once",
                         seen[idx]);
            break;
        }
        seen[idx] = k->start_mark.line + 1;
        const yaml_node_t *outer = c->use;
        if (!c->use && v->start_mark.index < k->start_mark.index) c->use = k; /* key: *alias */
        rc = apply_field(c, &t[idx], obj + t[idx].offset, v, full);
        c->use = outer;
    }
    free(seen);
    return rc;
}

/* The parser's error, at its position: "file:line:col: YAML syntax error: ...", or for an
 * override "override 'k=v': at column N of the value: YAML syntax error: ...". A reader error
 * (bytes that are not UTF-8) has a byte offset alone; its line and column are counted here. */
static int parser_fail(load_ctx *c, const yaml_parser_t *ps) {
    if (ps->error == YAML_MEMORY_ERROR) /* libyaml sets no problem or mark for it */
        return fail_mark(c, NULL, NULL, "out of memory reading the YAML");
    if (!ps->problem) /* a syntax error always has one; some of libyaml's allocations not */
        return fail_mark(c, NULL, NULL, "libyaml stopped without a reason (out of memory?)");
    const char *problem = ps->problem;
    yaml_mark_t at = ps->problem_mark;
    const char *kind = "YAML syntax error";
    if (ps->error == YAML_READER_ERROR) {
        size_t off = ps->problem_offset < c->len ? ps->problem_offset : c->len;
        at.line = at.column = 0;
        at.index = off;
        for (size_t i = 0; i < off; i++) {
            at.column = c->text[i] == '\n' ? 0 : at.column + 1;
            at.line += c->text[i] == '\n';
        }
        kind = "not UTF-8 text";
    }
    char context[128] = "";
    if (ps->error != YAML_READER_ERROR && ps->context)
        snprintf(context, sizeof context, ", %s started at line %zu", ps->context,
                 ps->context_mark.line + 1);
    if (!c->is_override)
        return fail_mark(c, &at, NULL, "%s: %s%s", kind, problem, context);
    char where[64];
    if (at.index >= c->len)
        snprintf(where, sizeof where, "the end");
    else if (at.line)
        snprintf(where, sizeof where, "line %zu, column %zu", at.line + 1, at.column + 1);
    else
        snprintf(where, sizeof where, "column %zu", at.column + 1);
    return fail_mark(c, NULL, NULL, "at %s of the value: %s: %s%s", where, kind, problem,
                     context);
}

/* Explicit tags (`!!str 5`, `!foo`, `!`) are refused where they stand: the schema decides
 * every value's type, and a tag could only contradict it (a quoted "5" is a string and
 * refused for an integer; `!!str 5` would have read as 5). libyaml's documents resolve tags
 * away, so the events are read first. Syntax errors are left to the loader. */
static int refuse_tags(load_ctx *c) {
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps))
        return fail_mark(c, NULL, NULL, "cannot initialise the YAML parser (out of memory)");
    yaml_parser_set_input_string(&ps, (const unsigned char *)c->text, c->len);
    int rc = 0, end = 0;
    yaml_event_t ev;
    while (rc == 0 && !end && yaml_parser_parse(&ps, &ev)) {
        const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT           ? ev.data.scalar.tag
                                 : ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.tag
                                 : ev.type == YAML_MAPPING_START_EVENT  ? ev.data.mapping_start.tag
                                                                        : NULL;
        char text[200];
        if (tag)
            rc = fail_mark(c, &ev.start_mark, NULL, "the YAML tag '%s'; expected no tags (a "
                           "key's type is drum's: write the value alone, quoted for a string)",
                           shown((const char *)tag, 120, text, sizeof text));
        end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    /* the document loaded, so a parse that stops early ran out of memory: not checked, not
     * passed */
    if (rc == 0 && !end) rc = parser_fail(c, &ps);
    yaml_parser_delete(&ps);
    return rc;
}

/* Loads the one document the parser holds and applies it. */
static int load_parser(const drum_cfg_field *schema, void *obj, load_ctx *c, yaml_parser_t *ps) {
    yaml_document_t doc;
    if (!yaml_parser_load(ps, &doc)) return parser_fail(c, ps);
    if (refuse_tags(c)) {
        yaml_document_delete(&doc);
        return -1;
    }
    c->doc = &doc;
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (root->type == YAML_SCALAR_NODE && is_null(root)) {
            rc = 0; /* an empty file: every default stands */
        } else if (root->type != YAML_MAPPING_NODE) {
            rc = fail_at(c, root, NULL, "expected a mapping of keys at the top level, got %s",
                         node_kind(root));
        } else {
            rc = apply_mapping(c, schema, obj, root, "");
        }
    }
    yaml_document_delete(&doc);
    if (rc == 0 && root) {
        yaml_document_t next;
        if (!yaml_parser_load(ps, &next)) return parser_fail(c, ps);
        if (yaml_document_get_root_node(&next)) /* at its "---" (an empty one has no node) */
            rc = fail_mark(c, &next.start_mark, NULL, "a second YAML document; expected one "
                           "document per file");
        yaml_document_delete(&next);
    }
    return rc;
}

int drum_cfg_load_string(const drum_cfg_field *schema, void *obj, const char *name,
                         const char *text, size_t len, char *err, size_t errlen) {
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        drum_errorf(err, errlen, "%s: cannot initialise the YAML parser (out of memory)", name);
        return -1;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    load_ctx c = {.where = name, .text = text, .len = len, .err = err, .errlen = errlen};
    int rc = load_parser(schema, obj, &c, &ps);
    yaml_parser_delete(&ps);
    return rc;
}

int drum_cfg_load_file(const drum_cfg_field *schema, void *obj, const char *path, char *err,
                       size_t errlen) {
    size_t len;
    char *text = drum_read_file(path, &len, err, errlen);
    if (!text) return -1;
    int rc = drum_cfg_load_string(schema, obj, path, text, len, err, errlen);
    free(text);
    return rc;
}

int drum_cfg_set(const drum_cfg_field *schema, void *obj, const char *assignment, char *err,
                 size_t errlen) {
    const char *eq = strchr(assignment, '=');
    char text[300];
    if (!eq || eq == assignment) {
        drum_errorf(err, errlen, "override '%s': expected key=value",
                    shown(assignment, 200, text, sizeof text));
        return -1;
    }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    /* Walk the dotted path down the sections. */
    const drum_cfg_field *t = schema, *f = NULL;
    char *base = obj;
    for (char *part = key, *dot; part; part = dot ? dot + 1 : NULL) {
        dot = strchr(part, '.');
        if (dot) *dot = '\0';
        f = NULL;
        for (int i = 0; t && t[i].key; i++)
            if (strcmp(t[i].key, part) == 0) f = &t[i];
        if (!f || (dot && f->type != DRUM_CFG_SECTION)) {
            char why[1100], whole[300];
            int at = snprintf(why, sizeof why, "expected one of: ");
            if (f) /* train.lr.x: a part past a setting */
                snprintf(why, sizeof why, "'%s' is a setting, not a section",
                         shown(key, 200, whole, sizeof whole));
            else
                key_names(t, why + at, sizeof why - (size_t)at);
            if (dot) *dot = '.';
            drum_errorf(err, errlen, "override '%s': unknown key '%s'; %s",
                        shown(assignment, 200, text, sizeof text),
                        shown(key, 200, whole, sizeof whole), why);
            return -1;
        }
        base += f->offset;
        t = f->section;
        if (dot) *dot = '.';
    }
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    const char *val = eq + 1;
    load_ctx c = {.where = assignment, .is_override = 1, .text = val, .len = strlen(val),
                  .err = err, .errlen = errlen};
    if (f->type == DRUM_CFG_STRING) {
        /* A string takes the text as it is: "retrieval.demo_text={R}" would otherwise be a
         * YAML mapping, and shells have already removed one layer of quotes. It must be text a
         * YAML file can hold, as the run's config.yaml will. */
        utf8proc_int32_t cp;
        for (const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)val; *u;) {
            utf8proc_ssize_t n = utf8proc_iterate(u, -1, &cp);
            if (n <= 0)
                return fail_at(&c, NULL, key, "byte %d is not UTF-8; expected UTF-8 text",
                               (int)(u - (const utf8proc_uint8_t *)val) + 1);
            u += n;
        }
        if (convert_scalar(f, base, val) != 0) return fail_at(&c, NULL, key, "out of memory");
        return run_check(&c, f, base, NULL, key);
    }
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        drum_errorf(err, errlen,
                    "override '%s': cannot initialise the YAML parser (out of memory)",
                    assignment);
        return -1;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)val, strlen(val));
    yaml_document_t doc;
    int rc;
    if (!yaml_parser_load(&ps, &doc)) {
        rc = parser_fail(&c, &ps);
    } else if (refuse_tags(&c)) {
        yaml_document_delete(&doc);
        rc = -1;
    } else {
        c.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            /* "key=" : an empty plain scalar. */
            yaml_document_delete(&doc);
            yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1);
            int id = yaml_document_add_scalar(&doc, NULL, (yaml_char_t *)"", 0,
                                              YAML_PLAIN_SCALAR_STYLE);
            root = yaml_document_get_node(&doc, id);
        }
        rc = apply_field(&c, f, base, root, key);
        yaml_document_delete(&doc);
        /* "key=1\n---\njunk": a second document, refused as in a file */
        yaml_document_t next;
        if (rc == 0 && !yaml_parser_load(&ps, &next)) {
            rc = parser_fail(&c, &ps);
        } else if (rc == 0) {
            if (yaml_document_get_root_node(&next)) {
                c.doc = &next;
                rc = fail_at(&c, yaml_document_get_root_node(&next), NULL,
                             "a second YAML document; expected one value");
            }
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&ps);
    return rc;
}

/* ---- writing -------------------------------------------------------------------------------- */

/* A YAML double-quoted scalar that reads back to s: quotes and backslashes escaped, and as an
 * escape every character libyaml refuses raw (C0 and C1 controls, DEL, U+FFFE, U+FFFF) or
 * reads as a line break that folding would turn into a space (LF, CR, NEL, U+2028, U+2029;
 * tools/fuzz/fuzz_config found the last two), and a BOM. s is UTF-8 (the loader and drum_cfg_set see to it); a stray invalid byte
 * would be written as \xNN, which reads back as U+00NN. */
static void write_string(FILE *f, const char *s) {
    fputc('"', f);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        if (n <= 0) {
            fprintf(f, "\\x%02x", *p++);
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (char)cp);
        else if (cp < 0x20 || cp == 0x7f)
            fprintf(f, "\\x%02x", (unsigned)cp);
        else if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
                 cp == 0xfffe || cp == 0xffff)
            fprintf(f, "\\u%04x", (unsigned)cp);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n;
    }
    fputc('"', f);
}

/* The shortest %g form that reads back to exactly v, with a '.' or 'e' so it stays a
 * float to a reader that types scalars. */
static void write_double(FILE *f, double v) {
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
    fputs(buf, f);
}

/* A field's value at p as YAML, after the "key:" and a space (not for sections). */
static void write_value(const drum_cfg_field *fl, const void *p, FILE *f) {
    switch (fl->type) {
    case DRUM_CFG_SECTION: break;
    case DRUM_CFG_INT: fprintf(f, "%d", *(const int *)p); break;
    case DRUM_CFG_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case DRUM_CFG_FLOAT: write_double(f, *(const double *)p); break;
    case DRUM_CFG_BOOL: fputs(*(const int *)p ? "true" : "false", f); break;
    case DRUM_CFG_ENUM: fputs(fl->names[*(const int *)p], f); break;
    case DRUM_CFG_STRING: write_string(f, *(char *const *)p ? *(char *const *)p : ""); break;
    case DRUM_CFG_INT_LIST: {
        const drum_cfg_int_list *l = p;
        fputc('[', f);
        for (int k = 0; k < l->n; k++) fprintf(f, "%s%d", k ? ", " : "", l->v[k]);
        fputc(']', f);
        break;
    }
    case DRUM_CFG_STRING_LIST: {
        const drum_cfg_str_list *l = p;
        fputc('[', f);
        for (int k = 0; k < l->n; k++) {
            if (k) fputs(", ", f);
            write_string(f, l->v[k]);
        }
        fputc(']', f);
        break;
    }
    }
}

static void write_rec(const drum_cfg_field *t, const char *obj, FILE *f, int depth) {
    for (int i = 0; t[i].key; i++) {
        const drum_cfg_field *fl = &t[i];
        const void *p = obj + fl->offset;
        fprintf(f, "%*s%s:", 2 * depth, "", fl->key);
        if (fl->type == DRUM_CFG_SECTION) {
            fputc('\n', f);
            write_rec(fl->section, p, f, depth + 1);
        } else {
            fputc(' ', f);
            write_value(fl, p, f);
            fputc('\n', f);
        }
    }
}

int drum_cfg_write(const drum_cfg_field *schema, const void *obj, FILE *f) {
    write_rec(schema, obj, f, 0);
    return ferror(f) ? -1 : 0;
}

char *drum_cfg_write_string(const drum_cfg_field *schema, const void *obj) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int bad = drum_cfg_write(schema, obj, f) != 0;
    if (fclose(f) != 0 || bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A field's value as drum_cfg_write writes it (malloc'd), or NULL when out of memory. */
static char *value_text(const drum_cfg_field *fl, const void *p) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    write_value(fl, p, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int diff_rec(const drum_cfg_field *t, const char *there, const char *here,
                    const char *prefix, const char *const *skip, char *out, size_t n) {
    int count = 0;
    for (int i = 0; t[i].key; i++) {
        const drum_cfg_field *fl = &t[i];
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", fl->key);
        if (fl->type == DRUM_CFG_SECTION) {
            count += diff_rec(fl->section, there + fl->offset, here + fl->offset, full, skip,
                              out, n);
            continue;
        }
        int skipped = 0;
        for (int k = 0; skip && skip[k] && !skipped; k++) skipped = strcmp(skip[k], full) == 0;
        if (skipped) continue;
        char *a = value_text(fl, there + fl->offset), *b = value_text(fl, here + fl->offset);
        if (!a || !b || strcmp(a, b) != 0) { /* out of memory counts as a difference */
            size_t used = n ? strlen(out) : 0;
            if (used + 1 < n)
                snprintf(out + used, n - used, "%s%s: %s there, %s here", used ? "; " : "",
                         full, a ? a : "?", b ? b : "?");
            count++;
        }
        free(a);
        free(b);
    }
    return count;
}

int drum_cfg_diff(const drum_cfg_field *schema, const void *there, const void *here,
                  const char *const *skip, char *out, size_t n) {
    if (n) out[0] = '\0';
    return diff_rec(schema, there, here, "", skip, out, n);
}

/* ---- drum's job config --------------------------------------------------------------------- */

static const char *const BACKEND_NAMES[] = {"cpu", "cuda", NULL};
static const char *const ORDER_NAMES[] = {"most_similar_last", "most_similar_first", NULL};
static const char *const LOSS_NAMES[] = {"rank", "listnet", "listmle", NULL};
static const char *const LAYOUT_NAMES[] = {"free", "grid", NULL};
static const char *const CLASSIFICATION_NAMES[] = {"shape", "claim", NULL}; /* synth.h order */
static const char *const TEXT_LENGTH_NAMES[] = {"context", "longest", NULL};
static const char *const SCORER_NAMES[] = {"synthetic", "openai", "exec", NULL};
static const char *const CLASSIFY_NAMES[] = {"generate", "rank", NULL};
static const char *const STRATEGY_NAMES[] = {"RS", "FIXED", "SI", "ST", "SIT", "DRUM", NULL};

int drum_text_template_check(const char *s, const char *allowed, char *msg, size_t len) {
    char names[64] = ""; /* "{P} or {R}", "{P}, {R} or {D}" */
    size_t k = strlen(allowed), used_len = 0;
    for (size_t a = 0; a < k && used_len + 8 < sizeof names; a++)
        used_len += (size_t)snprintf(names + used_len, sizeof names - used_len, "%s{%c}",
                                     a == 0 ? "" : a + 1 == k ? " or " : ", ", allowed[a]);
    int used = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '{') {
            if (!s[i + 1] || !strchr(allowed, s[i + 1]) || s[i + 2] != '}') {
                drum_errorf(msg, len, "bad placeholder at character %zu; expected %s", i + 1,
                            names);
                return -1;
            }
            used++;
            i += 2;
        } else if (s[i] == '}') {
            drum_errorf(msg, len, "unmatched '}' at character %zu; expected placeholders %s",
                        i + 1, names);
            return -1;
        }
    }
    if (!used) {
        drum_errorf(msg, len, "no placeholder; expected a template using %s", names);
        return -1;
    }
    return 0;
}

static int check_demo_text(const void *v, char *msg, size_t len) {
    return drum_text_template_check(*(char *const *)v, "PR", msg, len);
}

static int check_query_text(const void *v, char *msg, size_t len) {
    return drum_text_template_check(*(char *const *)v, "PD", msg, len);
}

/* A directory the job writes to or reads from: "" would become the filesystem's root
 * (train.out's derived caches, "/score_cache.bin") or the working directory. */
static int check_dir(const void *v, char *msg, size_t len) {
    if ((*(char *const *)v)[0]) return 0;
    drum_errorf(msg, len, "expected a directory (it is empty)");
    return -1;
}

static int check_model(const void *v, char *msg, size_t len) {
    if ((*(char *const *)v)[0]) return 0;
    drum_errorf(msg, len, "expected a config.json path or demo-tiny (it is empty)");
    return -1;
}

static int check_shots(const void *v, char *msg, size_t len) {
    const drum_cfg_int_list *l = v;
    if (l->n == 0) {
        drum_errorf(msg, len, "expected at least one k");
        return -1;
    }
    for (int i = 0; i < l->n; i++)
        for (int j = 0; j < i; j++)
            if (l->v[i] == l->v[j]) {
                drum_errorf(msg, len, "k = %d appears twice; expected distinct values", l->v[i]);
                return -1;
            }
    return 0;
}

static int check_strategies(const void *v, char *msg, size_t len) {
    const drum_cfg_str_list *l = v;
    if (l->n == 0) {
        drum_errorf(msg, len, "expected at least one strategy");
        return -1;
    }
    for (int i = 0; i < l->n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(l->v[i], l->v[j]) == 0) {
                drum_errorf(msg, len, "'%s' appears twice; expected distinct strategies", l->v[i]);
                return -1;
            }
    return 0;
}

#define F_INT(T, m, d, lo, hi) \
    {.key = #m, .type = DRUM_CFG_INT, .offset = offsetof(T, m), .def = d, .ranged = 1, .min = lo, .max = hi}
#define F_U64(T, m, d) {.key = #m, .type = DRUM_CFG_U64, .offset = offsetof(T, m), .def = d}
#define F_FLT(T, m, d, lo, hi) \
    {.key = #m, .type = DRUM_CFG_FLOAT, .offset = offsetof(T, m), .def = d, .ranged = 1, .min = lo, .max = hi}
#define F_STR(T, m, d) {.key = #m, .type = DRUM_CFG_STRING, .offset = offsetof(T, m), .def = d}
#define F_ENUM(T, m, d, nm) \
    {.key = #m, .type = DRUM_CFG_ENUM, .offset = offsetof(T, m), .def = d, .names = nm}
#define F_SEC(T, m, table) \
    {.key = #m, .type = DRUM_CFG_SECTION, .offset = offsetof(T, m), .section = table}
#define F_BOOL(T, m, d) {.key = #m, .type = DRUM_CFG_BOOL, .offset = offsetof(T, m), .def = d}
#define F_END {.key = NULL}

static const drum_cfg_field DATA_FIELDS[] = {
    {.key = "dir", .type = DRUM_CFG_STRING, .offset = offsetof(drum_data_config, dir),
     .def = "data/demo", .check = check_dir},
    F_STR(drum_data_config, train, ""),
    F_STR(drum_data_config, eval, ""),
    F_END,
};

static const drum_cfg_field SYNTH_FIELDS[] = {
    F_INT(drum_job_synth_config, n_train, "2000", 1, 10000000),
    F_INT(drum_job_synth_config, n_eval, "500", 1, 10000000),
    F_INT(drum_job_synth_config, n_pretrain, "0", 0, 1000000),
    F_INT(drum_job_synth_config, image_size, "32", 16, 512),
    F_ENUM(drum_job_synth_config, layout, "free", LAYOUT_NAMES),
    F_FLT(drum_job_synth_config, shape_captions, "0", 0, 1),
    F_ENUM(drum_job_synth_config, classification, "claim", CLASSIFICATION_NAMES),
    F_U64(drum_job_synth_config, seed, "1"),
    F_END,
};

static const drum_cfg_field PRETRAIN_FIELDS[] = {
    F_INT(drum_pretrain_config, epochs, "10", 0, 100000),
    F_INT(drum_pretrain_config, batch, "64", 1, 65536),
    F_FLT(drum_pretrain_config, lr, "5e-4", 0, 1),
    F_FLT(drum_pretrain_config, weight_decay, "0.1", 0, 10),
    F_INT(drum_pretrain_config, warmup_steps, "10", 0, 1000000000),
    F_END,
};

static const drum_cfg_field MODEL_FIELDS[] = {
    {.key = "config", .type = DRUM_CFG_STRING, .offset = offsetof(drum_model_config, config),
     .def = "demo-tiny", .check = check_model},
    F_STR(drum_model_config, checkpoint, ""),
    F_ENUM(drum_model_config, text_length, "context", TEXT_LENGTH_NAMES),
    F_SEC(drum_model_config, pretrain, PRETRAIN_FIELDS),
    F_END,
};

static const drum_cfg_field RETRIEVAL_FIELDS[] = {
    {.key = "demo_text", .type = DRUM_CFG_STRING, .offset = offsetof(drum_retrieval_config, demo_text),
     .def = "{P} {R}", .check = check_demo_text},
    {.key = "query_text", .type = DRUM_CFG_STRING,
     .offset = offsetof(drum_retrieval_config, query_text), .def = "{P} {D}",
     .check = check_query_text},
    F_FLT(drum_retrieval_config, w_image, "1.0", 0, 1000),
    F_FLT(drum_retrieval_config, w_text, "1.0", 0, 1000),
    F_ENUM(drum_retrieval_config, order, "most_similar_last", ORDER_NAMES),
    F_END,
};

static const drum_cfg_field TRAIN_FIELDS[] = {
    F_INT(drum_train_config, rounds, "3", 0, 1000),
    F_INT(drum_train_config, candidates_k, "50", 1, 100000),
    F_INT(drum_train_config, scored_per_round, "10", 1, 100000),
    F_INT(drum_train_config, queries, "0", 0, 1000000000),
    F_BOOL(drum_train_config, exclude_same_image, "false"),
    F_INT(drum_train_config, epochs, "1", 1, 100000),
    F_INT(drum_train_config, batch_queries, "8", 1, 65536),
    F_INT(drum_train_config, list_size, "16", 1, 4096),
    F_INT(drum_train_config, micro_batch, "0", 0, 1000000),
    F_FLT(drum_train_config, lr, "1e-5", 0, 1),
    F_INT(drum_train_config, warmup_steps, "0", 0, 1000000000),
    F_FLT(drum_train_config, weight_decay, "0.01", 0, 10),
    F_FLT(drum_train_config, grad_clip, "1.0", 0, 1e6),
    F_FLT(drum_train_config, tau, "0.05", 1e-6, 100),
    F_FLT(drum_train_config, lambda, "1.0", 0, 1000),
    F_ENUM(drum_train_config, loss, "rank", LOSS_NAMES),
    F_FLT(drum_train_config, listnet_tau, "1.0", 1e-6, 100),
    {.key = "freeze", .type = DRUM_CFG_STRING_LIST, .offset = offsetof(drum_train_config, freeze),
     .def = ""},
    F_INT(drum_train_config, checkpoint_every, "0", 0, 1000000000),
    {.key = "out", .type = DRUM_CFG_STRING, .offset = offsetof(drum_train_config, out),
     .def = "runs/demo", .check = check_dir},
    F_END,
};

static const drum_cfg_field SCORER_FIELDS[] = {
    F_ENUM(drum_scorer_config, backend, "synthetic", SCORER_NAMES),
    F_STR(drum_scorer_config, command, ""),
    F_FLT(drum_scorer_config, timeout, "0", 0, 1e9),
    F_STR(drum_scorer_config, cache, ""),
    F_STR(drum_scorer_config, answers, ""),
    F_U64(drum_scorer_config, seed, "7"),
    F_INT(drum_scorer_config, rules, "2", 1, 2),
    F_END,
};

static const drum_cfg_field EVAL_FIELDS[] = {
    {.key = "shots", .type = DRUM_CFG_INT_LIST, .offset = offsetof(drum_eval_config, shots),
     .def = "1,2,4,8", .ranged = 1, .min = 0, .max = 256, .check = check_shots},
    {.key = "strategies", .type = DRUM_CFG_STRING_LIST,
     .offset = offsetof(drum_eval_config, strategies), .def = "RS,FIXED,SI,ST,SIT,DRUM",
     .names = STRATEGY_NAMES, .check = check_strategies},
    F_ENUM(drum_eval_config, classify, "generate", CLASSIFY_NAMES),
    F_BOOL(drum_eval_config, exclude_same_image, "false"),
    F_END,
};

const drum_cfg_field drum_job_config_schema[] = {
    F_U64(drum_job_config, seed, "1234"),
    F_ENUM(drum_job_config, backend, "cpu", BACKEND_NAMES),
    F_INT(drum_job_config, threads, "0", 0, 4096),
    F_SEC(drum_job_config, data, DATA_FIELDS),
    F_SEC(drum_job_config, synth, SYNTH_FIELDS),
    F_SEC(drum_job_config, model, MODEL_FIELDS),
    F_SEC(drum_job_config, retrieval, RETRIEVAL_FIELDS),
    F_SEC(drum_job_config, train, TRAIN_FIELDS),
    F_SEC(drum_job_config, scorer, SCORER_FIELDS),
    F_SEC(drum_job_config, eval, EVAL_FIELDS),
    F_END,
};

int drum_job_config_init(drum_job_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    return drum_cfg_defaults(drum_job_config_schema, c, err, errlen);
}

/* A file setting left "" becomes {out}/{name}. */
static int derive_path(char **field, const char *out, const char *name) {
    if ((*field)[0] != '\0') return 0;
    size_t n = strlen(out) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) return -1;
    snprintf(p, n, "%s/%s", out, name);
    free(*field);
    *field = p;
    return 0;
}

int drum_job_config_finish(drum_job_config *c, char *err, size_t errlen) {
    if (c->train.scored_per_round > c->train.candidates_k) {
        drum_errorf(err, errlen,
                    "train.scored_per_round (%d) exceeds train.candidates_k (%d); expected at most "
                    "the number of candidates",
                    c->train.scored_per_round, c->train.candidates_k);
        return -1;
    }
    if (!(c->retrieval.w_image > 0.0 || c->retrieval.w_text > 0.0)) {
        drum_errorf(err, errlen,
                    "retrieval.w_image and retrieval.w_text are both 0; expected at "
                    "least one positive weight");
        return -1;
    }
    /* the scorer's settings are checked here, before a job reads any data */
    if (c->scorer.backend == DRUM_SCORER_EXEC && !c->scorer.command[0]) {
        drum_errorf(err, errlen, "scorer.command: scorer.backend exec needs the command that "
                    "runs the LVLM (include/drum/exec_scorer.h has the protocol)");
        return -1;
    }
    if (c->scorer.backend == DRUM_SCORER_OPENAI) {
        drum_errorf(err, errlen, "scorer.backend: 'openai' is not built into drum; an "
                    "OpenAI-compatible server (vLLM) is served through 'exec': command: \"python3 "
                    "tools/lvlm_openai.py --url http://HOST:PORT/v1\"");
        return -1;
    }
    if ((c->data.train[0] == '\0') != (c->data.eval[0] == '\0')) {
        drum_errorf(err, errlen,
                    "data.train and data.eval: expected both set (JSONL files) or both "
                    "empty (the synthetic suite)");
        return -1;
    }
    if (derive_path(&c->scorer.cache, c->train.out, DRUM_SCORE_CACHE_NAME) != 0 ||
        derive_path(&c->scorer.answers, c->train.out, DRUM_ANSWERS_NAME) != 0) {
        drum_errorf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int drum_job_config_load(drum_job_config *c, const char *path, char *err, size_t errlen) {
    if (drum_job_config_init(c, err, errlen) != 0) return -1;
    if (drum_cfg_load_file(drum_job_config_schema, c, path, err, errlen) != 0) return -1;
    char msg[512];
    if (drum_job_config_finish(c, msg, sizeof msg) != 0) {
        drum_errorf(err, errlen, "%s: %s", path, msg);
        return -1;
    }
    return 0;
}

void drum_job_config_free(drum_job_config *c) { drum_cfg_free(drum_job_config_schema, c); }
