/* safetensors.c — reading (mmap + full validation) and writing (F32, atomic) the
 * safetensors format, and CLIP checkpoints through the parameter table. */
#include "drum/error.h"
#include "drum/fileio.h"
#include "drum/safetensors.h"
#include "drum/strbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader copies it as host floats"
#endif

/* ---- dtypes -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtypes[DRUM_ST_NDTYPES] = {
    [DRUM_ST_BOOL] = {"BOOL", 1},       [DRUM_ST_U8] = {"U8", 1},
    [DRUM_ST_I8] = {"I8", 1},           [DRUM_ST_F8_E5M2] = {"F8_E5M2", 1},
    [DRUM_ST_F8_E4M3] = {"F8_E4M3", 1}, [DRUM_ST_I16] = {"I16", 2},
    [DRUM_ST_U16] = {"U16", 2},         [DRUM_ST_F16] = {"F16", 2},
    [DRUM_ST_BF16] = {"BF16", 2},       [DRUM_ST_I32] = {"I32", 4},
    [DRUM_ST_U32] = {"U32", 4},         [DRUM_ST_F32] = {"F32", 4},
    [DRUM_ST_I64] = {"I64", 8},         [DRUM_ST_U64] = {"U64", 8},
    [DRUM_ST_F64] = {"F64", 8},
};

const char *drum_st_dtype_name(drum_st_dtype dt) {
    return (unsigned)dt < DRUM_ST_NDTYPES ? dtypes[dt].name : "?";
}

size_t drum_st_dtype_size(drum_st_dtype dt) {
    return (unsigned)dt < DRUM_ST_NDTYPES ? dtypes[dt].size : 0;
}

static int dtype_from_name(const char *s, drum_st_dtype *dt) {
    for (int i = 0; i < DRUM_ST_NDTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *dt = (drum_st_dtype)i;
            return 0;
        }
    return -1;
}

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float drum_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp != 0) return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return bits_to_f32(sign);
    /* Subnormal: shift the mantissa up to the implicit bit, lowering the exponent. */
    uint32_t e = 113;
    while (!(man & 0x400u)) {
        man <<= 1;
        e--;
    }
    return bits_to_f32(sign | (e << 23) | ((man & 0x3ffu) << 13));
}

float drum_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

/* ---- the reader ---------------------------------------------------------------------- */

struct drum_safetensors {
    char *path;
    unsigned char *map;
    size_t size;
    drum_st_tensor *t;
    int n;
    int *by_name;     /* indices of t sorted by name, for find */
    char **meta;      /* key, value, key, value, ... */
    int nmeta;
};

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t off = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (off < len) snprintf(buf + off, len - off, "]");
}

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

/* Offsets and dims are JSON numbers; only integers 0..2^53 are exact in a double. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_tensor(const char *path, const cJSON *obj, drum_st_tensor *t, size_t datalen,
                        char *err, size_t errlen) {
    const char *name = t->name;
    if (!cJSON_IsObject(obj))
        return drum_errorf(err, errlen, "%s: tensor '%s': expected an object, got %s", path, name,
                    json_kind(obj));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(obj, "data_offsets");
    if (!cJSON_IsString(dt))
        return drum_errorf(err, errlen, "%s: tensor '%s': \"dtype\" must be a string, got %s", path,
                    name, dt ? json_kind(dt) : "nothing");
    if (dtype_from_name(dt->valuestring, &t->dtype))
        return drum_errorf(err, errlen, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                    dt->valuestring);
    if (!cJSON_IsArray(sh))
        return drum_errorf(err, errlen, "%s: tensor '%s': \"shape\" must be an array, got %s", path,
                    name, sh ? json_kind(sh) : "nothing");
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > DRUM_ST_MAX_DIMS)
        return drum_errorf(err, errlen, "%s: tensor '%s': %d dimensions, drum reads at most %d", path,
                    name, ndim, DRUM_ST_MAX_DIMS);
    t->ndim = ndim;
    size_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t d;
        if (json_uint(cJSON_GetArrayItem(sh, i), &d))
            return drum_errorf(err, errlen,
                        "%s: tensor '%s': shape[%d] must be a non-negative integer", path, name,
                        i);
        t->shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(numel, (size_t)d, &numel)) overflow = 1;
    }
    size_t need;
    if (overflow || __builtin_mul_overflow(numel, dtypes[t->dtype].size, &need))
        return drum_errorf(err, errlen, "%s: tensor '%s': the shape's size overflows", path, name);
    t->numel = numel;
    uint64_t b, e;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        json_uint(cJSON_GetArrayItem(off, 0), &b) || json_uint(cJSON_GetArrayItem(off, 1), &e))
        return drum_errorf(err, errlen,
                    "%s: tensor '%s': \"data_offsets\" must be [begin, end] of non-negative "
                    "integers (at most 2^53, what a JSON number holds exactly)",
                    path, name);
    if (e < b)
        return drum_errorf(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] end before begin",
                    path, name, (unsigned long long)b, (unsigned long long)e);
    if (e > datalen)
        return drum_errorf(err, errlen,
                    "%s: tensor '%s': data_offsets [%llu, %llu] out of range: the data section "
                    "holds %zu bytes",
                    path, name, (unsigned long long)b, (unsigned long long)e, datalen);
    if (e - b != need) {
        char s[160];
        format_shape(s, sizeof s, t->ndim, t->shape);
        return drum_errorf(err, errlen,
                    "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, %s %s needs "
                    "%zu",
                    path, name, (unsigned long long)b, (unsigned long long)e,
                    (unsigned long long)(e - b), dtypes[t->dtype].name, s, need);
    }
    t->begin = (size_t)b;
    t->nbytes = need;
    return 0;
}

static int parse_metadata(const char *path, const cJSON *obj, drum_safetensors *st, char *err,
                          size_t errlen) {
    if (!cJSON_IsObject(obj))
        return drum_errorf(err, errlen, "%s: __metadata__ must be an object of strings, got %s", path,
                    json_kind(obj));
    int n = cJSON_GetArraySize(obj);
    st->meta = calloc((size_t)(2 * n + 1), sizeof *st->meta);
    if (!st->meta) return drum_errorf(err, errlen, "%s: out of memory", path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, obj) {
        if (!cJSON_IsString(kv))
            return drum_errorf(err, errlen, "%s: __metadata__ \"%s\" must be a string, got %s", path,
                        kv->string, json_kind(kv));
        st->meta[2 * st->nmeta] = strdup(kv->string);
        st->meta[2 * st->nmeta + 1] = strdup(kv->valuestring);
        st->nmeta++;
        if (!st->meta[2 * st->nmeta - 2] || !st->meta[2 * st->nmeta - 1])
            return drum_errorf(err, errlen, "%s: out of memory", path);
    }
    return 0;
}

/* qsort has no context argument, so each element carries its tensor and its index. */
typedef struct {
    const drum_st_tensor *t;
    int i;
} tensor_ref;

static int cmp_by_begin(const void *a, const void *b) {
    const drum_st_tensor *x = ((const tensor_ref *)a)->t, *y = ((const tensor_ref *)b)->t;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const tensor_ref *)a)->t->name, ((const tensor_ref *)b)->t->name);
}

/* Sorted orders: by begin for overlaps, by name for duplicates and find. */
static int check_layout(const char *path, drum_safetensors *st, char *err, size_t errlen) {
    if (st->n == 0) return 0;
    tensor_ref *r = malloc((size_t)st->n * sizeof *r);
    st->by_name = malloc((size_t)st->n * sizeof *st->by_name);
    if (!r || !st->by_name) {
        free(r);
        return drum_errorf(err, errlen, "%s: out of memory", path);
    }
    for (int i = 0; i < st->n; i++) r[i] = (tensor_ref){&st->t[i], i};
    /* Empty tensors occupy no bytes and cannot overlap; `last` is the non-empty tensor
     * reaching furthest so far, which any later one must start after. */
    qsort(r, (size_t)st->n, sizeof *r, cmp_by_begin);
    const drum_st_tensor *last = NULL;
    for (int i = 0; i < st->n; i++) {
        const drum_st_tensor *b = r[i].t;
        if (b->nbytes == 0) continue;
        if (last && b->begin < last->begin + last->nbytes) {
            drum_errorf(err, errlen,
                 "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap in the data section",
                 path, last->name, last->begin, last->begin + last->nbytes, b->name, b->begin,
                 b->begin + b->nbytes);
            free(r);
            return -1;
        }
        if (!last || b->begin + b->nbytes > last->begin + last->nbytes) last = b;
    }
    qsort(r, (size_t)st->n, sizeof *r, cmp_by_name);
    for (int i = 0; i < st->n; i++) {
        if (i > 0 && strcmp(r[i - 1].t->name, r[i].t->name) == 0) {
            drum_errorf(err, errlen, "%s: tensor '%s' appears twice in the header", path, r[i].t->name);
            free(r);
            return -1;
        }
        st->by_name[i] = r[i].i;
    }
    free(r);
    return 0;
}

static int parse_header(drum_safetensors *st, const char *hdr, size_t hlen, size_t datalen,
                        char *err, size_t errlen) {
    const char *path = st->path;
    if (hlen == 0 || hdr[0] != '{')
        return drum_errorf(err, errlen, "%s: the header is not a JSON object (first byte 0x%02x)", path,
                    hlen ? (unsigned char)hdr[0] : 0u);
    const char *end = NULL;
    int oom;
    cJSON *root = drum_json_parse(hdr, hlen, &end, &oom);
    if (!root && oom)
        return drum_errorf(err, errlen, "%s: out of memory parsing the %zu-byte header", path, hlen);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
        return drum_errorf(err, errlen, "%s: invalid JSON in the header near byte %zu of %zu", path,
                    8 + at, 8 + hlen);
    }
    int rc = -1;
    for (const char *s = end; s < hdr + hlen; s++)
        if (!strchr(" \t\r\n", *s) || *s == '\0') {
            drum_errorf(err, errlen, "%s: unexpected bytes after the header's JSON at byte %zu", path,
                 8 + (size_t)(s - hdr));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        drum_errorf(err, errlen, "%s: the header is not a JSON object", path);
        goto done;
    }
    int count = cJSON_GetArraySize(root);
    st->t = calloc((size_t)count + 1, sizeof *st->t);
    if (!st->t) {
        drum_errorf(err, errlen, "%s: out of memory for %d header entries", path, count);
        goto done;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (cJSON_IsNull(item)) continue; /* as the safetensors library reads it: none */
            if (st->meta) {
                drum_errorf(err, errlen, "%s: __metadata__ appears twice in the header", path);
                goto done;
            }
            if (parse_metadata(path, item, st, err, errlen)) goto done;
            continue;
        }
        drum_st_tensor *t = &st->t[st->n];
        t->name = strdup(item->string);
        if (!t->name) {
            drum_errorf(err, errlen, "%s: out of memory", path);
            goto done;
        }
        st->n++;
        if (parse_tensor(path, item, t, datalen, err, errlen)) goto done;
        t->data = st->map + 8 + hlen + t->begin;
    }
    rc = check_layout(path, st, err, errlen);
done:
    cJSON_Delete(root);
    return rc;
}

/* 1 when path is not there but path.index.json is (transformers' sharded layout), whose
 * name goes to index (n bytes). */
static int sharded(const char *path, char *index, size_t n) {
    snprintf(index, n, "%s.index.json", path);
    return access(path, F_OK) != 0 && errno == ENOENT && access(index, R_OK) == 0;
}

drum_safetensors *drum_safetensors_open(const char *path, char *err, size_t errlen) {
    drum_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        drum_errorf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        char index[4096];
        if (sharded(path, index, sizeof index))
            drum_errorf(err, errlen, "%s: not there, but %s is: a checkpoint in shards, which "
                        "a model is loaded from through its index (drum_clip_load_safetensors), "
                        "not opened as one file", path, index);
        else
            drum_errorf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        goto bad;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        drum_errorf(err, errlen, "%s: not a regular file", path);
        close(fd);
        goto bad;
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        drum_errorf(err, errlen,
             "%s: truncated: %zu bytes, shorter than the 8-byte header length that starts a "
             "safetensors file",
             path, size);
        close(fd);
        goto bad;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        drum_errorf(err, errlen, "%s: cannot map %zu bytes: %s", path, size, strerror(errno));
        goto bad;
    }
    st->map = map;
    st->size = size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->map[i];
    if (hlen > DRUM_ST_MAX_HEADER) {
        drum_errorf(err, errlen, "%s: header length %llu exceeds the format's limit of %u bytes", path,
             (unsigned long long)hlen, DRUM_ST_MAX_HEADER);
        goto bad;
    }
    if (hlen > size - 8) {
        drum_errorf(err, errlen,
             "%s: header length %llu runs past the end of the file (%zu bytes): truncated or "
             "not a safetensors file",
             path, (unsigned long long)hlen, size);
        goto bad;
    }
    if (parse_header(st, (const char *)st->map + 8, (size_t)hlen, size - 8 - (size_t)hlen, err,
                     errlen))
        goto bad;
    return st;
bad:
    drum_safetensors_close(st);
    return NULL;
}

void drum_safetensors_close(drum_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->size);
    for (int i = 0; i < st->n; i++) free((char *)st->t[i].name);
    free(st->t);
    free(st->by_name);
    for (int i = 0; i < 2 * st->nmeta; i++) free(st->meta[i]);
    free(st->meta);
    free(st->path);
    free(st);
}

const char *drum_safetensors_path(const drum_safetensors *st) { return st->path; }
int drum_safetensors_count(const drum_safetensors *st) { return st->n; }

const drum_st_tensor *drum_safetensors_at(const drum_safetensors *st, int i) {
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const drum_st_tensor *drum_safetensors_find(const drum_safetensors *st, const char *name) {
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const drum_st_tensor *t = &st->t[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *drum_safetensors_metadata(const drum_safetensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

int drum_st_tensor_to_f32(const drum_st_tensor *t, float *dst, char *err, size_t errlen) {
    const unsigned char *s = t->data;
    switch (t->dtype) {
    case DRUM_ST_F32:
        memcpy(dst, s, t->nbytes);
        return 0;
    case DRUM_ST_F16:
        for (size_t i = 0; i < t->numel; i++)
            dst[i] = drum_f16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        return 0;
    case DRUM_ST_BF16:
        for (size_t i = 0; i < t->numel; i++)
            dst[i] = drum_bf16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        return 0;
    default:
        return drum_errorf(err, errlen, "tensor '%s' has dtype %s; drum converts F32, F16 and BF16",
                    t->name, drum_st_dtype_name(t->dtype));
    }
}

/* ---- the writer ---------------------------------------------------------------------- */

static void sb_printf(drum_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(drum_strbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = 1;
        return;
    }
    drum_sb_add(b, tmp, (size_t)n);
}

static void sb_json_string(drum_strbuf *b, const char *s) {
    drum_sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            drum_sb_add(b, esc, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            drum_sb_add(b, (const char *)&c, 1);
        }
    }
    drum_sb_add(b, "\"", 1);
}

/* Bytes of t's float32 data, or -1 when a dimension is negative or the size overflows. */
static int write_size(const drum_st_write_tensor *t, size_t *bytes) {
    if (t->ndim < 0 || t->ndim > DRUM_ST_MAX_DIMS) return -1;
    size_t n = sizeof(float);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0 || __builtin_mul_overflow(n, (size_t)t->shape[d], &n)) return -1;
    *bytes = n;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The reader rejects a file naming a tensor twice, so the writer never makes one. */
static int find_duplicate(const drum_st_write_tensor *t, int n, const char **dup) {
    const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names);
    if (!names) return -1;
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
    *dup = NULL;
    for (int i = 1; i < n && !*dup; i++)
        if (strcmp(names[i - 1], names[i]) == 0) *dup = names[i];
    free(names);
    return 0;
}

int drum_safetensors_write_f32(const char *path, const drum_st_write_tensor *t, int n,
                               char *err, size_t errlen) {
    const char *dup = NULL;
    if (find_duplicate(t, n, &dup)) return drum_errorf(err, errlen, "%s: out of memory", path);
    if (dup) return drum_errorf(err, errlen, "%s: tensor '%s' given twice", path, dup);
    drum_strbuf h = {0};
    drum_sb_str(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes;
        if (write_size(&t[i], &bytes) || __builtin_add_overflow(off, bytes, &off)) {
            free(h.s);
            return drum_errorf(err, errlen, "%s: tensor '%s': invalid shape or size", path, t[i].name);
        }
        drum_sb_str(&h, ",");
        sb_json_string(&h, t[i].name);
        drum_sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++)
            sb_printf(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off - bytes, off);
    }
    drum_sb_str(&h, "}");
    while (!h.oom && h.n % 8 != 0) drum_sb_str(&h, " ");
    if (h.oom) {
        free(h.s);
        return drum_errorf(err, errlen, "%s: out of memory building the header", path);
    }

    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        free(h.s);
        return drum_errorf(err, errlen, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(h.s);
        return drum_errorf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    int ok = drum_write_all(fd, len8, 8) == 0 && drum_write_all(fd, h.s, h.n) == 0;
    for (int i = 0; ok && i < n; i++) {
        size_t bytes = 0;
        write_size(&t[i], &bytes);
        ok = drum_write_all(fd, t[i].data, bytes) == 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    free(h.s);
    if (!ok) {
        unlink(tmp);
        return drum_errorf(err, errlen, "%s: write failed: %s", tmp, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        return drum_errorf(err, errlen, "%s: cannot rename %s over it: %s", path, tmp, strerror(saved));
    }
    return drum_fsync_parent(path, err, errlen);
}

/* ---- CLIP checkpoints ---------------------------------------------------------------- */

/* Buffers transformers registers with persistent=False but older exports still carry. */
static int is_ignored_buffer(const char *name) {
    return strcmp(name, "text_model.embeddings.position_ids") == 0 ||
           strcmp(name, "vision_model.embeddings.position_ids") == 0;
}

static int same_shape(const drum_param_entry *e, const drum_st_tensor *t) {
    if (e->ndim != t->ndim) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] != t->shape[i]) return 0;
    return 1;
}

/* The files a checkpoint's tensors are in: path itself; or, when path is missing and
 * path.index.json is there (transformers' sharded layout), the shards its "weight_map" names,
 * in the index's directory. Returns the count (>= 1) with the files in *out, or -1. */
enum { MAX_SHARDS = 256 };
static int open_sources(const char *path, drum_safetensors **out, char *err, size_t errlen) {
    char index[4096];
    if (!sharded(path, index, sizeof index)) {
        out[0] = drum_safetensors_open(path, err, errlen);
        return out[0] ? 1 : -1;
    }
    size_t len;
    char *text = drum_read_file(index, &len, err, errlen);
    if (!text) return -1;
    int oom, n = 0;
    cJSON *root = drum_json_parse(text, len, NULL, &oom);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map"), *e;
    if (!cJSON_IsObject(map) || !map->child) {
        drum_errorf(err, errlen, "%s: %s", index, oom ? "out of memory" : "expected a JSON object "
                    "with a non-empty \"weight_map\" of tensor names to shard files");
        cJSON_Delete(root);
        return -1;
    }
    char *dir = drum_path_dir(index);
    const char *names[MAX_SHARDS];
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/')) {
            drum_errorf(err, errlen, "%s: weight_map[\"%.80s\"] must name a file beside the index",
                        index, e->string);
            n = -1;
            break;
        }
        int k = 0;
        while (k < n && strcmp(names[k], e->valuestring) != 0) k++;
        if (k < n) continue;
        if (n == MAX_SHARDS) {
            drum_errorf(err, errlen, "%s: more than %d shards", index, MAX_SHARDS);
            n = -1;
            break;
        }
        char *shard = dir ? drum_path_join(dir, e->valuestring) : NULL;
        out[n] = shard ? drum_safetensors_open(shard, err, errlen) : NULL;
        if (!shard) drum_errorf(err, errlen, "%s: out of memory", index);
        free(shard);
        if (!out[n]) {
            for (int m = 0; m < n; m++) drum_safetensors_close(out[m]);
            n = -1;
            break;
        }
        names[n++] = e->valuestring;
    }
    free(dir);
    cJSON_Delete(root);
    return n;
}

int drum_clip_load_safetensors(const drum_clip_params *p, float *params_host, const char *path,
                               char *err, size_t errlen) {
    drum_safetensors *files[MAX_SHARDS];
    int nf = open_sources(path, files, err, errlen);
    if (nf < 0) return -1;
    int rc = -1;
    const drum_st_tensor **src = calloc((size_t)p->n + 1, sizeof *src);
    if (!src) {
        drum_errorf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    int missing = 0, first_missing = -1;
    for (int i = 0; i < p->n; i++) {
        const drum_param_entry *e = &p->entries[i];
        const drum_st_tensor *t = NULL;
        for (int f = 0; f < nf; f++) {
            const drum_st_tensor *u = drum_safetensors_find(files[f], e->name);
            if (u && t) {
                drum_errorf(err, errlen, "%s: tensor '%s' is in two shards", path, e->name);
                goto done;
            }
            if (u) t = u;
        }
        if (!t) {
            if (first_missing < 0) first_missing = i;
            missing++;
            continue;
        }
        if (!same_shape(e, t)) {
            char have[160], want[160];
            format_shape(have, sizeof have, t->ndim, t->shape);
            format_shape(want, sizeof want, e->ndim, e->shape);
            drum_errorf(err, errlen, "%s: tensor '%s' has shape %s, the config expects %s", path,
                 e->name, have, want);
            goto done;
        }
        if (t->dtype != DRUM_ST_F32 && t->dtype != DRUM_ST_F16 && t->dtype != DRUM_ST_BF16) {
            drum_errorf(err, errlen, "%s: tensor '%s' has dtype %s; drum loads F32, F16 or BF16", path,
                 e->name, drum_st_dtype_name(t->dtype));
            goto done;
        }
        src[i] = t;
    }
    if (missing) {
        drum_errorf(err, errlen, "%s: missing tensor '%s' (%d of the config's %d tensors are missing)",
             path, p->entries[first_missing].name, missing, p->n);
        goto done;
    }
    for (int f = 0; f < nf; f++)
        for (int i = 0; i < drum_safetensors_count(files[f]); i++) {
            const drum_st_tensor *t = drum_safetensors_at(files[f], i);
            if (!is_ignored_buffer(t->name) && !drum_clip_params_find(p, t->name)) {
                drum_errorf(err, errlen, "%s: unexpected tensor '%s': not a parameter of this CLIP "
                            "config", path, t->name);
                goto done;
            }
        }
    for (int i = 0; i < p->n; i++)
        drum_st_tensor_to_f32(src[i], params_host + p->entries[i].offset, NULL, 0);
    rc = 0;
done:
    free(src);
    for (int f = 0; f < nf; f++) drum_safetensors_close(files[f]);
    return rc;
}

int drum_clip_save_safetensors(const drum_clip_params *p, const float *params_host,
                               const char *path, char *err, size_t errlen) {
    drum_st_write_tensor *t = calloc((size_t)p->n + 1, sizeof *t);
    if (!t) return drum_errorf(err, errlen, "%s: out of memory", path);
    for (int i = 0; i < p->n; i++) {
        const drum_param_entry *e = &p->entries[i];
        t[i] = (drum_st_write_tensor){e->name, e->ndim, e->shape, params_host + e->offset};
    }
    int rc = drum_safetensors_write_f32(path, t, p->n, err, errlen);
    free(t);
    return rc;
}
