/* safetensors.h — the Hugging Face safetensors format: a validating reader, an F32 writer,
 * and CLIP's checkpoint load/save through its parameter table (clip.h).
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON
 *   {"NAME": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the data section; offsets are relative to its start. The reader maps the file and
 * checks everything before it hands out a tensor: header length within the file, the JSON,
 * each dtype, offsets in range with end >= begin and end - begin == numel * dtype size, and no
 * two tensors overlapping. A file that passes can be read without further bounds checks.
 * Gaps between tensors are accepted (the format does not need them, nothing breaks with them).
 */
#ifndef DRUM_SAFETENSORS_H
#define DRUM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "drum/clip.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DRUM_ST_MAX_DIMS 8
/* The largest header accepted, as in the reference implementation. */
#define DRUM_ST_MAX_HEADER 100000000u

/* Every fixed-width dtype of the format. The reader accepts all of them (checkpoints carry
 * int64 buffers such as position_ids); only F32, F16 and BF16 convert to float. Any other
 * dtype string is rejected as unknown. */
typedef enum {
    DRUM_ST_BOOL, DRUM_ST_U8, DRUM_ST_I8, DRUM_ST_F8_E5M2, DRUM_ST_F8_E4M3,
    DRUM_ST_I16, DRUM_ST_U16, DRUM_ST_F16, DRUM_ST_BF16,
    DRUM_ST_I32, DRUM_ST_U32, DRUM_ST_F32,
    DRUM_ST_I64, DRUM_ST_U64, DRUM_ST_F64,
    DRUM_ST_NDTYPES
} drum_st_dtype;

typedef struct {
    const char *name;
    drum_st_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[DRUM_ST_MAX_DIMS];
    size_t numel;
    size_t begin, nbytes;          /* data_offsets[0], data_offsets[1] - data_offsets[0] */
    const unsigned char *data;     /* into the mapping; not aligned for any type */
} drum_st_tensor;

typedef struct drum_safetensors drum_safetensors;

/* The dtype's name in the format ("F32", "BF16", ...). */
const char *drum_st_dtype_name(drum_st_dtype dt);
/* Bytes per element. */
size_t drum_st_dtype_size(drum_st_dtype dt);

/* Exact conversions of one IEEE half / bfloat16 value (subnormals, infinities, NaN kept). */
float drum_f16_to_f32(uint16_t h);
float drum_bf16_to_f32(uint16_t h);

/* Maps and validates `path`. Returns NULL with a message naming the file and the problem
 * (the tensor and the offending value where there is one). */
drum_safetensors *drum_safetensors_open(const char *path, char *err, size_t errlen);
void drum_safetensors_close(drum_safetensors *st);

const char *drum_safetensors_path(const drum_safetensors *st);
/* Tensors in header order. */
int drum_safetensors_count(const drum_safetensors *st);
const drum_st_tensor *drum_safetensors_at(const drum_safetensors *st, int i);
/* The tensor named `name`, or NULL. */
const drum_st_tensor *drum_safetensors_find(const drum_safetensors *st, const char *name);
/* The __metadata__ value of `key`, or NULL. */
const char *drum_safetensors_metadata(const drum_safetensors *st, const char *key);

/* Converts t (F32, F16 or BF16) into numel floats at dst. Returns 0, or -1 naming the
 * tensor and its dtype when it is not one of those. */
int drum_st_tensor_to_f32(const drum_st_tensor *t, float *dst, char *err, size_t errlen);

/* One tensor to write: numel(shape) floats at data. */
typedef struct {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} drum_st_write_tensor;

/* Writes the tensors as F32, in the given order and contiguous, with __metadata__
 * {"format": "pt"} (transformers requires it) and the header padded with spaces to a
 * multiple of 8 so the data section is aligned. Atomic: writes path.tmp, fsyncs it,
 * renames it over path and fsyncs the directory; on error path is untouched. */
int drum_safetensors_write_f32(const char *path, const drum_st_write_tensor *t, int n,
                               char *err, size_t errlen);

/* Loads a CLIP checkpoint into params_host (p->total floats, host memory), converting F16
 * and BF16 to float32. Every table entry must be present with the table's shape and a
 * float dtype; a tensor the table does not name is an error, except the non-persistent
 * buffers text_model.embeddings.position_ids and vision_model.embeddings.position_ids.
 * Everything is checked before the first float is written: on error params_host is
 * unchanged. When path is not there but path.index.json is (transformers' sharded layout,
 * e.g. model.safetensors.index.json), the shards its "weight_map" names, beside it, are read
 * as one checkpoint (a tensor in two shards is an error). Returns 0, or -1 with a message
 * naming the file and the tensor. */
int drum_clip_load_safetensors(const drum_clip_params *p, float *params_host, const char *path,
                               char *err, size_t errlen);
/* Writes every table entry of params_host as F32 in table order (atomically, see
 * drum_safetensors_write_f32). The data section is then byte-for-byte params_host. */
int drum_clip_save_safetensors(const drum_clip_params *p, const float *params_host,
                               const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
