/* fileio.h — small file helpers shared by every writer: atomic replace and exact reads. */
#ifndef DRUM_FILEIO_H
#define DRUM_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Opens path.tmp for writing; *tmp receives its name (caller frees). NULL + err on failure. */
FILE *drum_atomic_open(const char *path, char **tmp, char *err, size_t errlen);
/* Flushes, fsyncs and closes f, then renames tmp over path and fsyncs the directory.
 * On any failure removes tmp and returns -1 with a message; frees tmp either way. */
int drum_atomic_commit(FILE *f, char *tmp, const char *path, char *err, size_t errlen);
/* Writes n bytes of data to path through drum_atomic_open / drum_atomic_commit. */
int drum_write_file_atomic(const char *path, const void *data, size_t n, char *err,
                           size_t errlen);
/* Abandons an atomic write: closes f, removes tmp, frees it. */
void drum_atomic_abort(FILE *f, char *tmp);
/* Makes a new or renamed directory entry durable: fsyncs the directory holding path.
 * Returns 0, also where the directory cannot be opened or its file system does not sync
 * directories (EINVAL, ENOTSUP); -1 with a message when the sync fails (EIO, ENOSPC): the
 * entry may not outlive a crash. */
int drum_fsync_parent(const char *path, char *err, size_t errlen);

/* 1 when path names something that exists (stat succeeds); 0 for NULL or anything else. */
int drum_file_exists(const char *path);

/* Reads a whole file into a malloc'd, NUL-terminated buffer. */
char *drum_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* The next non-blank line of buf[*pos..len) (without its newline or a trailing CR) in *s,
 * *n; *line counts every line read (1-based). Returns 1 for a line, 0 at the end, -1 with
 * "path:line: NUL byte in the line". A loop over a file's text lines:
 *     while ((more = drum_next_line(buf, len, &pos, path, &line, &s, &n, err, errlen)) > 0) */
int drum_next_line(const char *buf, size_t len, size_t *pos, const char *path, int *line,
                   const char **s, size_t *n, char *err, size_t errlen);

/* write(2) until all n bytes are out (EINTR retried). Returns 0, or -1 with errno set (0
 * when write returned 0). */
int drum_write_all(int fd, const void *p, size_t n);

/* pread(2) until all n bytes at offset off are in (EINTR retried). Returns 0, or -1 with
 * errno set (EIO when the file ended first). */
int drum_read_at(int fd, void *p, size_t n, size_t off);

/* Creates dir and its parents (mkdir -p). */
int drum_mkdirs(const char *dir, char *err, size_t errlen);

/* dir + "/" + name in a malloc'd string. */
char *drum_path_join(const char *dir, const char *name);

/* The directory of path in a malloc'd string: what precedes its last '/' ("/" for "/x"),
 * or "." when it has none. */
char *drum_path_dir(const char *path);

/* Writes s as a JSON string literal (quotes, backslashes and control characters escaped). */
void drum_json_write_string(FILE *f, const char *s);

/* An exclusive flock on fd (the file at path), without waiting. Returns 0; 1 when another
 * process holds it ("path: in use by another process (locked)" in err); or -1 when the
 * filesystem cannot lock, with its error and what to do (Lustre mounted without `-o flock`,
 * NFS without its lock daemon). */
int drum_lock_file(int fd, const char *path, char *err, size_t errlen);

/* cJSON_ParseWithLengthOpts(text, len, end, 0), telling a parse that failed for memory (*oom
 * set, e.g. under `ulimit -v`) from one that failed on the text, which cJSON alone does not:
 * a reader then says "out of memory", not "invalid JSON" about a good file. */
struct cJSON;
struct cJSON *drum_json_parse(const char *text, size_t len, const char **end, int *oom);

#endif
