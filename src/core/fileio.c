/* fileio.c — atomic replace (write tmp, fsync, rename, fsync dir) and exact reads. */
#include "drum/fileio.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *drum_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t off = a;
    if (a && dir[a - 1] != '/') p[off++] = '/';
    memcpy(p + off, name, b + 1);
    return p;
}

char *drum_path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

FILE *drum_atomic_open(const char *path, char **tmp, char *err, size_t errlen) {
    size_t n = strlen(path) + 5;
    *tmp = malloc(n);
    if (!*tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    snprintf(*tmp, n, "%s.tmp", path);
    FILE *f = fopen(*tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", *tmp, strerror(errno));
        free(*tmp);
        *tmp = NULL;
    }
    return f;
}

int drum_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

int drum_fsync_parent(const char *path, char *err, size_t errlen) {
    char *copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd >= 0 && fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
        snprintf(err, errlen, "%s: written, but its directory %s could not be synced: %s", path,
                 copy, strerror(errno));
        rc = -1;
    }
    if (fd >= 0) close(fd);
    free(copy);
    return rc;
}

int drum_atomic_commit(FILE *f, char *tmp, const char *path, char *err, size_t errlen) {
    int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int saved = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(saved));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return drum_fsync_parent(path, err, errlen);
}

int drum_write_file_atomic(const char *path, const void *data, size_t n, char *err,
                           size_t errlen) {
    char *tmp = NULL;
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) return -1;
    if (n && fwrite(data, 1, n, f) != n) {
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        drum_atomic_abort(f, tmp);
        return -1;
    }
    return drum_atomic_commit(f, tmp, path, err, errlen);
}

void drum_atomic_abort(FILE *f, char *tmp) {
    if (f) fclose(f);
    if (tmp) {
        remove(tmp);
        free(tmp);
    }
}

char *drum_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory reading the file", path);
                return NULL;
            }
            buf = nb;
        }
        errno = 0;
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f), saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read: %s", path, saved ? strerror(saved) : "I/O error");
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int drum_mkdirs(const char *dir, char *err, size_t errlen) {
    char *p = strdup(dir);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = c;
        }
        if (c == '\0') break;
    }
    free(p);
    return 0;
}

void drum_json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int drum_next_line(const char *buf, size_t len, size_t *pos, const char *path, int *line,
                   const char **s, size_t *n, char *err, size_t errlen) {
    while (*pos < len) {
        ++*line;
        *s = buf + *pos;
        const char *nl = memchr(*s, '\n', len - *pos);
        *n = nl ? (size_t)(nl - *s) : len - *pos;
        *pos += *n + (nl ? 1 : 0);
        if (memchr(*s, '\0', *n)) {
            snprintf(err, errlen, "%s:%d: NUL byte in the line", path, *line);
            return -1;
        }
        if (*n && (*s)[*n - 1] == '\r') --*n;
        size_t blank = 0;
        while (blank < *n && ((*s)[blank] == ' ' || (*s)[blank] == '\t')) blank++;
        if (blank < *n) return 1;
    }
    return 0;
}

int drum_write_all(int fd, const void *p, size_t n) {
    const char *s = p;
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO; /* nothing written, no error said: not "Success" */
            return -1;
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

int drum_read_at(int fd, void *p, size_t n, size_t off) {
    char *s = p;
    for (size_t got = 0; got < n;) {
        ssize_t k = pread(fd, s + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO; /* the file is shorter than the caller was told */
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

/* cJSON allocates through these once drum_json_parse has run: an allocation that fails marks
 * the thread's parse */
static _Thread_local int json_oom;

static void *json_malloc(size_t n) {
    void *p = malloc(n);
    if (!p) json_oom = 1;
    return p;
}

static void json_hooks(void) {
    cJSON_Hooks h = {json_malloc, free};
    cJSON_InitHooks(&h);
}

struct cJSON *drum_json_parse(const char *text, size_t len, const char **end, int *oom) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_hooks);
    json_oom = 0;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, end, 0);
    if (oom) *oom = json_oom;
    if (!root && end && json_oom) *end = NULL;
    return root;
}

int drum_lock_file(int fd, const char *path, char *err, size_t errlen) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if (errno == EWOULDBLOCK) {
        snprintf(err, errlen, "%s: in use by another process (locked)", path);
        return 1;
    }
    int e = errno;
    snprintf(err, errlen, "%s: cannot lock: %s%s", path, strerror(e),
             e == ENOSYS || e == ENOLCK || e == EOPNOTSUPP || e == EINVAL
                 ? " (a filesystem without flock, such as Lustre mounted without -o flock or NFS "
                   "without its lock daemon: put train.out, scorer.cache and scorer.answers on "
                   "one with it)"
                 : "");
    return -1;
}
