/* tokenizer.h — CLIP's byte-level BPE tokenizer, producing the ids Hugging Face
 * `CLIPTokenizer` (the tokenizers-backed "fast" tokenizer; `CLIPTokenizerFast` in
 * transformers 4) produces for the same files and text.
 *
 * Inputs: HF `vocab.json` (token -> id) and `merges.txt` ("#version" line, then one
 * "left right" pair per line, rank = line order), optionally `tokenizer_config.json`
 * (bos/eos/unk/pad tokens, added_tokens_decoder, model_max_length). Other files of a
 * checkpoint (tokenizer.json, special_tokens_map.json) are not read.
 *
 * Encoding, step by step as HF does it:
 *   1. Invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart (what Python's
 *      bytes.decode("utf-8", "replace") yields before the text reaches HF).
 *   2. Added tokens whose "normalized" flag is false (by default <|startoftext|> and
 *      <|endoftext|>) are cut out of the raw text, leftmost-longest, and map to their ids.
 *   3. The rest is normalised: NFC, every run of Unicode whitespace -> one space, then
 *      per-character lowercase (Rust's char::to_lowercase: U+0130 -> "i\u0307", no
 *      final-sigma rule). Added tokens with "normalized": true are cut out now.
 *   4. CLIP's pre-tokenisation regex splits the text into words:
 *      <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      (whitespace is dropped); a word that spells a special token literally (only after
 *      normalisation, e.g. "<|ENDOFTEXT|>") is split by GPT-2's byte-level regex into
 *      "<|", the name, "|>", as HF's ByteLevel pre-tokenizer does.
 *   5. Each word's UTF-8 bytes are BPE-merged: the last byte carries "</w>", pairs merge
 *      lowest rank first, leftmost first among equals. Byte-level BPE has no unknowns.
 *   6. Sequences are [bos] + ids + [eos], truncated to the context (the text part is cut,
 *      bos and eos stay) and padded with the pad id; the mask is 1 on real tokens.
 * Whitespace stripping is implicit: whitespace never reaches a word.
 *
 * A loaded tokenizer is read-only: any number of threads may encode with it at once. */
#ifndef DRUM_TOKENIZER_H
#define DRUM_TOKENIZER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DRUM_TOKENIZER_DEFAULT_CONTEXT 77

typedef struct drum_tokenizer drum_tokenizer;

typedef struct {
    int vocab_size;   /* largest id + 1 */
    int bos_id;       /* bos_token (default "<|startoftext|>") */
    int eos_id;       /* eos_token (default "<|endoftext|>") */
    int pad_id;       /* pad_token (default "<|endoftext|>", i.e. eos: OpenAI checkpoints;
                         laion checkpoints say "!", id 0) */
    int context;      /* model_max_length when the config gives one <= 65536, else 77 */
} drum_tokenizer_info;

/* Loads dir/vocab.json, dir/merges.txt and, when present, dir/tokenizer_config.json.
 * On success *out owns the tokenizer (free with drum_tokenizer_free) and 0 is returned;
 * else -1 with a message naming the file (and line) in err. */
int drum_tokenizer_load(const char *dir, drum_tokenizer **out, char *err, size_t errlen);

/* Copies dir's tokenizer files into out (each written atomically): vocab.json, merges.txt
 * and, when present, tokenizer_config.json, so that a checkpoint written to out is a
 * directory drum_tokenizer_load (and transformers' CLIPTokenizer) reads on its own.
 * Returns 0, or -1 with a message naming the file. */
int drum_tokenizer_copy_files(const char *dir, const char *out, char *err, size_t errlen);

/* As drum_tokenizer_load with explicit paths; config_path may be NULL (the defaults of
 * CLIPTokenizer: bos <|startoftext|>, eos = unk = pad = <|endoftext|>, none normalized).
 * Every token the config names must be in vocab.json or in its added_tokens_decoder. */
int drum_tokenizer_load_files(const char *vocab_path, const char *merges_path,
                              const char *config_path, drum_tokenizer **out, char *err,
                              size_t errlen);

void drum_tokenizer_free(drum_tokenizer *tok);

drum_tokenizer_info drum_tokenizer_get_info(const drum_tokenizer *tok);

/* Encodes text (NUL-terminated, any bytes) without bos/eos: writes the first
 * min(total, cap) ids to ids and returns that count, or -1 when memory runs out. Work
 * stops once cap ids exist, so truncating long texts costs little. */
int drum_tokenize(const drum_tokenizer *tok, const char *text, int *ids, int cap);

/* Tokenizes n texts (OpenMP over texts) into ids (n, ctx): bos, the text's ids truncated
 * to ctx - 2, eos, then pad ids. ctx <= 0 means the tokenizer's context. mask (n, ctx) gets
 * 1 on real tokens and 0 on padding; eos_pos (n) gets argmax(ids == eos_id), the first eos,
 * which is where HF CLIPTextModel pools for configs whose eos_token_id is the real eos
 * (for legacy configs use drum_tokenizer_pool_index). mask and eos_pos may be NULL.
 * Returns 0, or -1 with a message in err (ctx < 2, out of memory). */
int drum_tokenize_batch(const drum_tokenizer *tok, const char *const *texts, int n, int ctx,
                        int *ids, int *mask, int *eos_pos, char *err, size_t errlen);

/* The position HF CLIPTextModel pools at for one sequence of T ids, given the model
 * config's eos_token_id: the first argmax of ids when eos_token_id == 2 (configs from
 * before transformers PR #24773), else the first position holding eos_token_id (0 when
 * none does, as torch's argmax of an all-false row). */
int drum_tokenizer_pool_index(const int *ids, int T, int eos_token_id);

#ifdef __cplusplus
}
#endif
#endif
