/* metrics.c — VQA accuracy, classification accuracy, PTB-style tokenization, CIDEr-D,
 * ROC-AUC.
 *
 * The reference scorers are Python: their `str.lower`, `str.split`, `str.strip` and the
 * regex class `\d` are Unicode-aware, so this file decodes UTF-8 and classifies code
 * points the way CPython does (whitespace: str.isspace; digits: category Nd; lowercase:
 * utf8proc's simple mapping, which equals str.lower except for U+0130 and final sigma).
 */
#include "drum/error.h"
#include "drum/metrics.h"
#include "drum/rng.h"
#include "drum/strbuf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- UTF-8 and CPython character classes ----------------------------------------------- */

/* Decodes the code point at s[i] (len bytes left); an invalid byte decodes as itself with
 * length 1 so that no input is ever rejected. */
static int32_t decode(const char *s, size_t len, size_t *nbytes) {
    int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &cp);
    if (k <= 0) {
        *nbytes = 1;
        return (unsigned char)s[0];
    }
    *nbytes = (size_t)k;
    return cp;
}

/* The code point that ends just before s[i], or -1 at the start. */
static int32_t decode_before(const char *s, size_t i) {
    if (i == 0) return -1;
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    size_t nb;
    int32_t cp = decode(s + j, i - j, &nb);
    if (j + nb != i) return (unsigned char)s[i - 1];
    return cp;
}

/* CPython's str.isspace (Unicode 14). */
static int py_isspace(int32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
    if (c < 0x80) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The regex class \d on str patterns: Unicode category Nd. */
static int py_isdigit(int32_t c) {
    if (c < 0) return 0;
    if (c < 0x80) return c >= '0' && c <= '9';
    return utf8proc_category(c) == UTF8PROC_CATEGORY_ND;
}

static void sb_addc(drum_strbuf *b, char c) { drum_sb_add(b, &c, 1); }

/* Hands the buffer to the caller: the string, or NULL (and nothing leaked) on OOM. */
static char *sb_take(drum_strbuf *b) {
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (!b->s) {
        char *e = malloc(1);
        if (e) e[0] = '\0';
        return e;
    }
    return b->s;
}

/* Appends the lowercase of s[0..len) (Python str.lower, simple mapping). */
static void sb_add_lower(drum_strbuf *b, const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            sb_addc(b, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
            i++;
            continue;
        }
        size_t nb;
        int32_t cp = decode(s + i, len - i, &nb);
        if (nb == 1 && cp == c) {
            drum_sb_add(b, s + i, 1);
        } else {
            utf8proc_uint8_t enc[4];
            utf8proc_ssize_t k = utf8proc_encode_char(utf8proc_tolower(cp), enc);
            drum_sb_add(b, (const char *)enc, (size_t)k);
        }
        i += nb;
    }
}

/* [*start, *end) of s with CPython-whitespace stripped at both ends. */
static void py_strip(const char *s, size_t len, size_t *start, size_t *end) {
    size_t a = 0, nb;
    while (a < len && py_isspace(decode(s + a, len - a, &nb))) a += nb;
    size_t z = len;
    while (z > a) {
        size_t j = z - 1;
        while (j > a && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
        int32_t cp = decode(s + j, z - j, &nb);
        if (j + nb != z || !py_isspace(cp)) break;
        z = j;
    }
    *start = a;
    *end = z;
}

/* Splits s like Python's str.split(): calls fn(word, len, ctx) for each maximal run of
 * non-whitespace. */
typedef void (*word_fn)(const char *w, size_t len, void *ctx);
static void py_split(const char *s, size_t len, word_fn fn, void *ctx) {
    size_t i = 0, nb;
    while (i < len) {
        while (i < len && py_isspace(decode(s + i, len - i, &nb))) i += nb;
        if (i >= len) break;
        size_t w = i;
        while (i < len && !py_isspace(decode(s + i, len - i, &nb))) i += nb;
        fn(s + w, i - w, ctx);
    }
}

/* ---- VQA normalisation ------------------------------------------------------------------ */

static const char VQA_PUNCT[] = ";/[]\"{}()=+\\_-><@`,?!";

/* The official contraction map, verbatim: keys with capitals (Im, Ive, Id've, I'dve) can
 * never match after lowercasing, and "somebody'd" maps to "somebodyd"; both are kept as in
 * the reference. */
static const char *const CONTRACTIONS[][2] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
    {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
    {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
    {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"},
    {"havent", "haven't"}, {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"},
    {"hes", "he's"}, {"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"},
    {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"}, {"Ive", "I've"},
    {"isnt", "isn't"}, {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"},
    {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"},
    {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"}, {"mightve", "might've"},
    {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"},
    {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"},
    {"'ows'at", "'ow's'at"}, {"'ow'sat", "'ow's'at"}, {"shant", "shan't"},
    {"shed've", "she'd've"}, {"she'dve", "she'd've"}, {"she's", "she's"},
    {"shouldve", "should've"}, {"shouldnt", "shouldn't"}, {"shouldnt've", "shouldn't've"},
    {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
    {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"},
    {"somebodyll", "somebody'll"}, {"somebodys", "somebody's"}, {"someoned", "someone'd"},
    {"someoned've", "someone'd've"}, {"someone'dve", "someone'd've"},
    {"someonell", "someone'll"}, {"someones", "someone's"}, {"somethingd", "something'd"},
    {"somethingd've", "something'd've"}, {"something'dve", "something'd've"},
    {"somethingll", "something'll"}, {"thats", "that's"}, {"thered", "there'd"},
    {"thered've", "there'd've"}, {"there'dve", "there'd've"}, {"therere", "there're"},
    {"theres", "there's"}, {"theyd", "they'd"}, {"theyd've", "they'd've"},
    {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"},
    {"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"},
    {"we'dve", "we'd've"}, {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"},
    {"whatre", "what're"}, {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"},
    {"whered", "where'd"}, {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"},
    {"whod've", "who'd've"}, {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"},
    {"whove", "who've"}, {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"},
    {"wont", "won't"}, {"wouldve", "would've"}, {"wouldnt", "wouldn't"},
    {"wouldnt've", "wouldn't've"}, {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"},
    {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"}, {"yall'd've", "y'all'd've"},
    {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"}, {"youd", "you'd"},
    {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"},
    {"youre", "you're"}, {"youve", "you've"},
};

static const char *const NUMBER_WORDS[][2] = {
    {"none", "0"}, {"zero", "0"}, {"one", "1"},   {"two", "2"},   {"three", "3"}, {"four", "4"},
    {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"},
};

static int word_is(const char *w, size_t len, const char *lit) {
    return strlen(lit) == len && memcmp(w, lit, len) == 0;
}

/* The map's value for word w, or NULL. The tables are small and lookups rare, so a scan. */
static const char *map_find(const char *const (*map)[2], size_t n, const char *w, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (word_is(w, len, map[i][0])) return map[i][1];
    return NULL;
}

char *drum_vqa_process_punctuation(const char *s) {
    size_t len = strlen(s);
    /* commaStrip "(\d)(\,)(\d)" searched anywhere in the input. */
    int digit_comma_digit = 0;
    for (size_t i = 0; i < len && !digit_comma_digit; i++) {
        if (s[i] != ',') continue;
        size_t nb;
        int32_t after = i + 1 < len ? decode(s + i + 1, len - i - 1, &nb) : -1;
        digit_comma_digit = py_isdigit(decode_before(s, i)) && py_isdigit(after);
    }
    /* The official test is on the input text, per punctuation character. */
    int delete_p[sizeof VQA_PUNCT] = {0};
    for (size_t k = 0; k + 1 < sizeof VQA_PUNCT; k++) {
        int touches = 0;
        for (size_t i = 0; i < len && !touches; i++)
            if (s[i] == VQA_PUNCT[k])
                touches = (i + 1 < len && s[i + 1] == ' ') || (i > 0 && s[i - 1] == ' ');
        delete_p[k] = digit_comma_digit || touches;
    }
    drum_strbuf out = {0};
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] ? strchr(VQA_PUNCT, s[i]) : NULL;
        if (!p) {
            sb_addc(&out, s[i]);
        } else if (!delete_p[p - VQA_PUNCT]) {
            sb_addc(&out, ' ');
        }
    }
    if (out.oom || !out.s) return sb_take(&out);
    /* periodStrip "(?!<=\d)(\.)(?!\d)" with re.UNICODE passed as count: the first 32 periods
     * not followed by a digit go; the look-ahead sees the text before any removal. */
    drum_strbuf res = {0};
    int removed = 0;
    for (size_t i = 0; i < out.n; i++) {
        if (out.s[i] == '.' && removed < 32) {
            size_t nb;
            int32_t next = i + 1 < out.n ? decode(out.s + i + 1, out.n - i - 1, &nb) : -1;
            if (!py_isdigit(next)) {
                removed++;
                continue;
            }
        }
        sb_addc(&res, out.s[i]);
    }
    free(out.s);
    return sb_take(&res);
}

typedef struct {
    drum_strbuf *out;
    int first;
} digit_article_ctx;

static void digit_article_word(const char *w, size_t len, void *vctx) {
    digit_article_ctx *ctx = vctx;
    const char *num = map_find(NUMBER_WORDS, sizeof NUMBER_WORDS / sizeof NUMBER_WORDS[0], w, len);
    if (num) {
        w = num;
        len = strlen(num);
    }
    if (word_is(w, len, "a") || word_is(w, len, "an") || word_is(w, len, "the")) return;
    const char *con =
        map_find(CONTRACTIONS, sizeof CONTRACTIONS / sizeof CONTRACTIONS[0], w, len);
    if (con) {
        w = con;
        len = strlen(con);
    }
    if (!ctx->first) sb_addc(ctx->out, ' ');
    drum_sb_add(ctx->out, w, len);
    ctx->first = 0;
}

char *drum_vqa_process_digit_article(const char *s) {
    drum_strbuf lower = {0};
    sb_add_lower(&lower, s, strlen(s));
    if (lower.oom) return sb_take(&lower);
    drum_strbuf out = {0};
    digit_article_ctx ctx = {&out, 1};
    if (lower.s) py_split(lower.s, lower.n, digit_article_word, &ctx);
    free(lower.s);
    return sb_take(&out);
}

/* replace('\n', ' '), replace('\t', ' '), strip(). */
static char *vqa_clean(const char *s) {
    size_t len = strlen(s), a, z;
    char *t = malloc(len + 1);
    if (!t) return NULL;
    for (size_t i = 0; i <= len; i++) t[i] = (s[i] == '\n' || s[i] == '\t') ? ' ' : s[i];
    py_strip(t, len, &a, &z);
    memmove(t, t + a, z - a);
    t[z - a] = '\0';
    return t;
}

char *drum_vqa_normalize(const char *s) {
    char *c = vqa_clean(s);
    if (!c) return NULL;
    char *p = drum_vqa_process_punctuation(c);
    free(c);
    if (!p) return NULL;
    char *d = drum_vqa_process_digit_article(p);
    free(p);
    return d;
}

/* One GT answer prepared as `mode` prescribes; all_same is the official "len(set) == 1". */
static char *vqa_prepare_gt(const char *a, drum_vqa_gt_mode mode, int all_same) {
    if (mode == DRUM_VQA_OPENFLAMINGO) return drum_vqa_normalize(a);
    if (all_same) return strdup(a);
    return drum_vqa_process_punctuation(a);
}

int drum_vqa_accuracy(const char *pred, const char *const *answers, int n,
                      drum_vqa_gt_mode mode, double *acc, char *err, size_t errlen) {
    if (n < 1) {
        drum_errorf(err, errlen, "vqa accuracy: %d ground-truth answers (need at least 1)", n);
        return -1;
    }
    if (mode != DRUM_VQA_OPENFLAMINGO && mode != DRUM_VQA_OFFICIAL) {
        drum_errorf(err, errlen, "vqa accuracy: unknown ground-truth mode %d", (int)mode);
        return -1;
    }
    int all_same = 1;
    for (int i = 1; i < n; i++) all_same &= strcmp(answers[i], answers[0]) == 0;
    char *p = drum_vqa_normalize(pred);
    int *eq = malloc((size_t)n * sizeof *eq);
    if (!p || !eq) goto oom;
    int total = 0;
    for (int i = 0; i < n; i++) {
        char *g = vqa_prepare_gt(answers[i], mode, all_same);
        if (!g) goto oom;
        eq[i] = strcmp(g, p) == 0;
        total += eq[i];
        free(g);
    }
    /* The same float operations as the reference: sum(min(1, m/3)) / n, summed in order. */
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double m = (double)(total - eq[i]) / 3.0;
        sum += m < 1.0 ? m : 1.0;
    }
    *acc = sum / (double)n;
    free(p);
    free(eq);
    return 0;
oom:
    free(p);
    free(eq);
    drum_errorf(err, errlen, "vqa accuracy: out of memory");
    return -1;
}

/* ---- classification ------------------------------------------------------------------------ */

static char *trim_lower(const char *s) {
    size_t a, z;
    py_strip(s, strlen(s), &a, &z);
    drum_strbuf b = {0};
    sb_add_lower(&b, s + a, z - a);
    return sb_take(&b);
}

int drum_cls_match(const char *pred, const char *label) {
    char *p = trim_lower(pred), *l = trim_lower(label);
    int eq = p && l && strcmp(p, l) == 0;
    free(p);
    free(l);
    return eq;
}

/* ---- PTB tokenization ----------------------------------------------------------------------- */

/* The tokens pycocoevalcap removes after the Java tokenizer. The bracket names are upper
 * case while -lowerCase has made the tokens lower case, so brackets survive as "-lrb-" etc.:
 * that is the reference's behaviour and it is kept. */
static const char *const PTB_DROPPED[] = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                                          ".",  "?", "!",  ",", ":",     "-",     "--",    "...",
                                          ";"};

/* Words that keep a following period as PTB's abbreviation lists do (titles, months,
 * days, company and address words). Compared case-insensitively. */
static const char *const PTB_ABBREV[] = {
    "mr",   "mrs",  "ms",    "dr",    "prof", "st",   "jr",   "sr",   "vs",   "etc",
    "inc",  "ltd",  "co",    "corp",  "mt",   "ave",  "rd",   "blvd", "capt", "sgt",
    "gen",  "col",  "lt",    "rev",   "hon",  "ft",   "al",   "dept", "univ", "bros",
    "esq",  "gov",  "sen",   "rep",   "pres", "maj",  "cpl",  "pvt",  "adm",  "jan",
    "feb",  "mar",  "apr",   "jun",   "jul",  "aug",  "sep",  "sept", "oct",  "nov",
    "dec",  "mon",  "tue",   "tues",  "wed",  "thu",  "thurs", "fri"};

typedef struct {
    drum_strbuf out;
} ptb_state;

static void ptb_emit(ptb_state *st, const char *tok, size_t len) {
    if (len == 0) return;
    drum_strbuf low = {0};
    sb_add_lower(&low, tok, len);
    if (low.oom) {
        st->out.oom = 1;
        free(low.s);
        return;
    }
    for (size_t k = 0; k < sizeof PTB_DROPPED / sizeof PTB_DROPPED[0]; k++) {
        if (strcmp(low.s, PTB_DROPPED[k]) == 0) {
            free(low.s);
            return;
        }
    }
    if (st->out.n) sb_addc(&st->out, ' ');
    drum_sb_add(&st->out, low.s, low.n);
    free(low.s);
}

static void ptb_emit_lit(ptb_state *st, const char *lit) { ptb_emit(st, lit, strlen(lit)); }

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
/* Letters, digits and any non-ASCII byte (non-ASCII letters are word characters). */
static int is_word(char c) { return is_alpha(c) || is_digit(c) || (unsigned char)c >= 0x80; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }

static int ieq(const char *a, size_t len, const char *lit) {
    if (strlen(lit) != len) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = a[i];
        if (is_upper(c)) c = (char)(c + 32);
        if (c != lit[i]) return 0;
    }
    return 1;
}

static int ends_with_i(const char *w, size_t len, const char *suf) {
    size_t k = strlen(suf);
    return len > k && ieq(w + len - k, k, suf);
}

/* Emits a word, splitting English clitics as PTB does: do|n't, man|'s, we|'re, can|not,
 * gon|na. */
static void ptb_word(ptb_state *st, const char *w, size_t len) {
    static const char *const joined[][3] = {{"cannot", "can", "not"}, {"gonna", "gon", "na"},
                                            {"gotta", "got", "ta"},   {"wanna", "wan", "na"},
                                            {"gimme", "gim", "me"},   {"lemme", "lem", "me"}};
    for (size_t k = 0; k < sizeof joined / sizeof joined[0]; k++) {
        if (ieq(w, len, joined[k][0])) {
            size_t a = strlen(joined[k][1]);
            ptb_emit(st, w, a);
            ptb_emit(st, w + a, len - a);
            return;
        }
    }
    static const char *const clitics[] = {"n't", "'s", "'m", "'d", "'re", "'ve", "'ll"};
    for (size_t k = 0; k < sizeof clitics / sizeof clitics[0]; k++) {
        if (ends_with_i(w, len, clitics[k])) {
            size_t c = strlen(clitics[k]);
            ptb_emit(st, w, len - c);
            ptb_emit(st, w + len - c, c);
            return;
        }
    }
    ptb_emit(st, w, len);
}

/* Length of an acronym at t ("U.S.", "p.m.", "e.g.": two or more single letters each
 * followed by a period, not followed by a word character), else 0. */
static size_t acronym_len(const char *t, size_t len) {
    size_t i = 0, pairs = 0;
    while (i + 1 < len && is_alpha(t[i]) && t[i + 1] == '.' && (i == 0 || t[i - 1] == '.')) {
        i += 2;
        pairs++;
    }
    if (pairs < 2 || (i < len && is_word(t[i]))) return 0;
    return i;
}

/* True when the PTB keeps the period after word w, `after` being the next character after
 * the period and any spaces ('\0' at the end of the caption): an abbreviation from the
 * list; "no."/"nos." before a number; a single letter ("vitamin C. here") unless a capital
 * or the end follows. The Java tokenizer reads all captions as one file, so at the end it
 * sees the next caption, which nearly always starts with a capital. */
static int keeps_period(const char *w, size_t len, char after) {
    if (len == 1 && is_alpha(w[0])) return after != '\0' && !is_upper(after);
    if ((ieq(w, len, "no") || ieq(w, len, "nos")) && is_digit(after)) return 1;
    for (size_t k = 0; k < sizeof PTB_ABBREV / sizeof PTB_ABBREV[0]; k++)
        if (ieq(w, len, PTB_ABBREV[k])) return 1;
    return 0;
}

/* Scans one whitespace-free chunk of the (ASCII-normalised) caption; next is the first
 * character of the next chunk, '\0' at the end. */
static void ptb_chunk(ptb_state *st, const char *t, size_t len, char next) {
    size_t i = 0;
    while (i < len) {
        char c = t[i];
        size_t acr = acronym_len(t + i, len - i);
        if (acr) {
            ptb_emit(st, t + i, acr);
            i += acr;
            continue;
        }
        int word_start = is_word(c) ||
                         ((c == '#' || c == '@') && i + 1 < len && is_alpha(t[i + 1])) ||
                         (c == '-' && i + 1 < len && is_digit(t[i + 1]) &&
                          (i == 0 || !is_word(t[i - 1])));
        if (word_start) {
            size_t j = i + 1;
            int hyphenated = 0;
            while (j < len) {
                char p = t[j - 1], q = j + 1 < len ? t[j + 1] : '\0';
                char d = t[j];
                if (is_word(d)) {
                    j++;
                } else if ((d == '-' || d == '/' || d == '_') && is_word(p) && is_word(q)) {
                    hyphenated |= d == '-';
                    j++;
                } else if (d == '&' && is_alpha(p) && is_alpha(q)) {
                    j++;
                } else if (d == '.' && is_word(p) && is_word(q)) {
                    /* "3.5", "x.y" and "text.More" stay whole; a hyphenated word ends before
                     * the period ("skate-board . there"), and "no.5" is "no." then "5". */
                    if (hyphenated || (is_digit(q) && keeps_period(t + i, j - i, q))) break;
                    j++;
                } else if ((d == ',' || d == ':') && is_digit(p) && is_digit(q)) {
                    j++;
                } else if (d == '\'' && is_alpha(p) && is_alpha(q)) {
                    j++;
                } else {
                    break;
                }
            }
            size_t wlen = j - i;
            if (j < len && t[j] == '.' && !(j + 1 < len && t[j + 1] == '.')) {
                if (keeps_period(t + i, wlen, j + 1 < len ? t[j + 1] : next)) {
                    wlen++;
                    j++;
                }
            }
            ptb_word(st, t + i, wlen);
            i = j;
            continue;
        }
        size_t run = 1;
        while (i + run < len && t[i + run] == c) run++;
        switch (c) {
        case '.':
            if (run >= 3) {
                ptb_emit_lit(st, "...");
            } else {
                for (size_t k = 0; k < run; k++) ptb_emit_lit(st, ".");
            }
            i += run;
            break;
        case '?':
        case '!': {
            size_t k = i;
            while (k < len && (t[k] == '?' || t[k] == '!')) k++;
            ptb_emit(st, t + i, k - i);
            i = k;
            break;
        }
        case '-':
            ptb_emit_lit(st, run == 1 ? "-" : "--");
            i += run;
            break;
        case '\'': {
            /* A clitic after a space ("man 's") or "'90s" is a word; else a quote. */
            size_t k = i + 1;
            while (k < len && is_word(t[k])) k++;
            const char *w = t + i + 1;
            size_t wl = k - i - 1;
            if (ieq(w, wl, "s") || ieq(w, wl, "m") || ieq(w, wl, "d") || ieq(w, wl, "re") ||
                ieq(w, wl, "ve") || ieq(w, wl, "ll") || ieq(w, wl, "em") ||
                (wl == 3 && is_digit(w[0]) && is_digit(w[1]) && (w[2] == 's' || w[2] == 'S'))) {
                ptb_emit(st, t + i, k - i);
                i = k;
            } else {
                ptb_emit_lit(st, "'");
                i++;
            }
            break;
        }
        case '"':
        case '`':
            ptb_emit_lit(st, "``");
            i += run;
            break;
        case '(': ptb_emit_lit(st, "-LRB-"); i++; break;
        case ')': ptb_emit_lit(st, "-RRB-"); i++; break;
        case '[': ptb_emit_lit(st, "-LSB-"); i++; break;
        case ']': ptb_emit_lit(st, "-RSB-"); i++; break;
        case '{': ptb_emit_lit(st, "-LCB-"); i++; break;
        case '}': ptb_emit_lit(st, "-RCB-"); i++; break;
        default:
            ptb_emit(st, t + i, 1);
            i++;
            break;
        }
    }
}

char *drum_ptb_tokenize(const char *s) {
    /* Typographic quotes, dashes and the ellipsis become their ASCII forms (PTB normalises
     * them to the same tokens); Unicode whitespace becomes a space. */
    size_t len = strlen(s);
    drum_strbuf t = {0};
    for (size_t i = 0; i < len;) {
        size_t nb;
        int32_t cp = decode(s + i, len - i, &nb);
        if (py_isspace(cp)) {
            sb_addc(&t, ' ');
        } else if (cp == 0x2018 || cp == 0x2019 || cp == 0x201A || cp == 0x201B || cp == 0x2032) {
            sb_addc(&t, '\'');
        } else if (cp == 0x201C || cp == 0x201D || cp == 0x201E || cp == 0x201F || cp == 0xAB ||
                   cp == 0xBB || cp == 0x2033) {
            sb_addc(&t, '"');
        } else if (cp == 0x2013 || cp == 0x2014 || cp == 0x2015) {
            drum_sb_add(&t, " -- ", 4);
        } else if (cp == 0x2026) {
            drum_sb_add(&t, " ... ", 5);
        } else {
            drum_sb_add(&t, s + i, nb);
        }
        i += nb;
    }
    if (t.oom) return sb_take(&t);
    ptb_state st = {{0}};
    for (size_t i = 0; i < t.n;) {
        while (i < t.n && t.s[i] == ' ') i++;
        size_t w = i;
        while (i < t.n && t.s[i] != ' ') i++;
        size_t next = i;
        while (next < t.n && t.s[next] == ' ') next++;
        if (i > w) ptb_chunk(&st, t.s + w, i - w, next < t.n ? t.s[next] : '\0');
    }
    free(t.s);
    return sb_take(&st.out);
}

/* ---- CIDEr-D -------------------------------------------------------------------------------- */

/* An n-gram table: open addressing over n-gram strings (words joined by one space, so
 * keys are unique because words hold no whitespace). Entries keep insertion order, which is
 * the order of Python's dicts in the reference, so sums run in the same order. */
typedef struct {
    char *key;
    int order;    /* n - 1, in 0..3 */
    double count; /* term count, or document frequency in the df table */
    double w;     /* tf-idf weight */
} ngram;

typedef struct {
    ngram *e;
    int n, cap;  /* entries in insertion order */
    int *slot;   /* hash slots: index into e, or -1 */
    int nslot;
} ngram_table;

static void table_free(ngram_table *t) {
    for (int i = 0; i < t->n; i++) free(t->e[i].key);
    free(t->e);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static int table_rehash(ngram_table *t, int nslot) {
    int *slot = malloc((size_t)nslot * sizeof *slot);
    if (!slot) return -1;
    for (int i = 0; i < nslot; i++) slot[i] = -1;
    for (int i = 0; i < t->n; i++) {
        uint64_t h = drum_str_hash(t->e[i].key);
        int s = (int)(h & (uint64_t)(nslot - 1));
        while (slot[s] >= 0) s = (s + 1) & (nslot - 1);
        slot[s] = i;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return 0;
}

/* The entry for key[0..len), or NULL. */
static ngram *table_get(const ngram_table *t, const char *key, size_t len) {
    if (!t->nslot) return NULL;
    int s = (int)(drum_str_hash_n(key, len) & (uint64_t)(t->nslot - 1));
    while (t->slot[s] >= 0) {
        ngram *g = &t->e[t->slot[s]];
        if (strncmp(g->key, key, len) == 0 && g->key[len] == '\0') return g;
        s = (s + 1) & (t->nslot - 1);
    }
    return NULL;
}

/* The entry for key, created with count 0 when absent; NULL on OOM. */
static ngram *table_upsert(ngram_table *t, const char *key, size_t len, int order) {
    ngram *g = table_get(t, key, len);
    if (g) return g;
    if (2 * (t->n + 1) > t->nslot && table_rehash(t, t->nslot ? 2 * t->nslot : 64) != 0)
        return NULL;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        ngram *e = realloc(t->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        t->e = e;
        t->cap = cap;
    }
    char *k = malloc(len + 1);
    if (!k) return NULL;
    memcpy(k, key, len);
    k[len] = '\0';
    int s = (int)(drum_str_hash_n(key, len) & (uint64_t)(t->nslot - 1));
    while (t->slot[s] >= 0) s = (s + 1) & (t->nslot - 1);
    t->slot[s] = t->n;
    g = &t->e[t->n++];
    g->key = k;
    g->order = order;
    g->count = 0.0;
    g->w = 0.0;
    return g;
}

typedef struct {
    const char **w;
    size_t *len;
    int n, cap;
    int oom;
} word_list;

static void collect_word(const char *w, size_t len, void *ctx) {
    word_list *l = ctx;
    if (l->oom) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        const char **nw = realloc(l->w, (size_t)cap * sizeof *nw);
        if (!nw) {
            l->oom = 1;
            return;
        }
        l->w = nw;
        size_t *nl = realloc(l->len, (size_t)cap * sizeof *nl);
        if (!nl) {
            l->oom = 1;
            return;
        }
        l->len = nl;
        l->cap = cap;
    }
    l->w[l->n] = w;
    l->len[l->n++] = len;
}

/* precook: the counts of all 1..4-grams of sentence s, in the reference's order (by n, then
 * by position). Returns 0 or -1 on OOM. */
static int precook(const char *s, ngram_table *t) {
    word_list wl = {0};
    py_split(s, strlen(s), collect_word, &wl);
    int rc = wl.oom ? -1 : 0;
    drum_strbuf key = {0};
    for (int k = 1; k <= 4 && rc == 0; k++) {
        for (int i = 0; i + k <= wl.n && rc == 0; i++) {
            key.n = 0;
            for (int j = 0; j < k; j++) {
                if (j) sb_addc(&key, ' ');
                drum_sb_add(&key, wl.w[i + j], wl.len[i + j]);
            }
            ngram *g = key.oom ? NULL : table_upsert(t, key.s, key.n, k - 1);
            if (!g) {
                rc = -1;
                break;
            }
            g->count += 1.0;
        }
    }
    free(key.s);
    free(wl.w);
    free(wl.len);
    return rc;
}

typedef struct {
    ngram_table t;
    double norm[4];
    int length; /* the reference counts bigrams here: its length-penalty quirk */
} cider_vec;

/* x squared as pycocoevalcap's pow(x, 2) computes it: Python's float pow calls libm's pow,
 * which glibc does not always round as x * x is (3 (ln 10 - ln 8) squares to 1 ulp apart;
 * found by an audit). The exponent is volatile: a constant 2.0 is folded into x * x. */
static double py_square(double x) {
    static volatile double two = 2.0;
    return pow(x, two);
}

/* counts2vec: tf-idf weights, per-order norms and the bigram count. */
static void counts2vec(cider_vec *v, const ngram_table *df, double ref_len) {
    double sq[4] = {0, 0, 0, 0};
    v->length = 0;
    for (int i = 0; i < v->t.n; i++) {
        ngram *g = &v->t.e[i];
        const ngram *d = table_get(df, g->key, strlen(g->key));
        double dfv = d ? d->count : 0.0;
        g->w = g->count * (ref_len - log(dfv > 1.0 ? dfv : 1.0));
        sq[g->order] += py_square(g->w);
        if (g->order == 1) v->length += (int)g->count;
    }
    for (int k = 0; k < 4; k++) v->norm[k] = sqrt(sq[k]);
}

static void cider_sim(const cider_vec *h, const cider_vec *r, double val[4]) {
    const double sigma = 6.0;
    double delta = (double)(h->length - r->length);
    for (int k = 0; k < 4; k++) val[k] = 0.0;
    for (int i = 0; i < h->t.n; i++) {
        const ngram *g = &h->t.e[i];
        const ngram *q = table_get(&r->t, g->key, strlen(g->key));
        double rw = q ? q->w : 0.0;
        val[g->order] += (g->w < rw ? g->w : rw) * rw;
    }
    for (int k = 0; k < 4; k++) {
        if (h->norm[k] != 0.0 && r->norm[k] != 0.0) val[k] /= h->norm[k] * r->norm[k];
        val[k] *= pow(M_E, -(delta * delta) / (2.0 * sigma * sigma)); /* np.e ** x */
    }
}

/* numpy's sum of a float64 array (pairwise_sum: 8 accumulators in blocks of up to 128, halves
 * above that), so that the corpus mean is np.mean's to the last bit. */
static double numpy_sum(const double *a, int n) {
    if (n < 8) {
        double res = 0.0;
        for (int i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        int i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int n2 = n / 2;
    n2 -= n2 % 8;
    return numpy_sum(a, n2) + numpy_sum(a + n2, n - n2);
}

int drum_cider_d(int n, const char *const *hyps, const char *const *const *refs,
                 const int *n_refs, double *scores, double *mean, char *err, size_t errlen) {
    if (n < 1) {
        drum_errorf(err, errlen, "cider: %d images (need at least 1)", n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (n_refs[i] < 1) {
            drum_errorf(err, errlen, "cider: image %d has no reference captions", i);
            return -1;
        }
    }
    int rc = -1;
    ngram_table df = {0};
    cider_vec hv = {0};
    cider_vec *rv = NULL;
    int max_refs = 0;
    for (int i = 0; i < n; i++) max_refs = n_refs[i] > max_refs ? n_refs[i] : max_refs;
    rv = calloc((size_t)max_refs, sizeof *rv);
    double *all = malloc((size_t)n * sizeof *all); /* the images' scores */
    if (!rv || !all) goto done;

    /* Document frequency: the number of images whose references contain the n-gram. */
    for (int i = 0; i < n; i++) {
        ngram_table seen = {0};
        for (int j = 0; j < n_refs[i]; j++) {
            if (precook(refs[i][j], &seen) != 0) {
                table_free(&seen);
                goto done;
            }
        }
        for (int e = 0; e < seen.n; e++) {
            ngram *g = table_upsert(&df, seen.e[e].key, strlen(seen.e[e].key), seen.e[e].order);
            if (!g) {
                table_free(&seen);
                goto done;
            }
            g->count += 1.0;
        }
        table_free(&seen);
    }

    double ref_len = log((double)n);
    for (int i = 0; i < n; i++) {
        table_free(&hv.t);
        if (precook(hyps[i], &hv.t) != 0) goto done;
        counts2vec(&hv, &df, ref_len);
        double score[4] = {0, 0, 0, 0};
        for (int j = 0; j < n_refs[i]; j++) {
            table_free(&rv[j].t);
            if (precook(refs[i][j], &rv[j].t) != 0) goto done;
            counts2vec(&rv[j], &df, ref_len);
            double val[4];
            cider_sim(&hv, &rv[j], val);
            for (int k = 0; k < 4; k++) score[k] += val[k];
        }
        double avg = (((score[0] + score[1]) + score[2]) + score[3]) / 4.0;
        avg /= (double)n_refs[i];
        avg *= 10.0;
        all[i] = avg;
        if (scores) scores[i] = avg;
    }
    *mean = numpy_sum(all, n) / (double)n; /* np.mean */
    rc = 0;
done:
    if (rc != 0) drum_errorf(err, errlen, "cider: out of memory");
    table_free(&df);
    table_free(&hv.t);
    if (rv)
        for (int j = 0; j < max_refs; j++) table_free(&rv[j].t);
    free(rv);
    free(all);
    return rc;
}

/* ---- ROC-AUC ------------------------------------------------------------------------------- */

typedef struct {
    double s;
    int y;
} scored_label;

/* Ascending by score. NaN never gets here; -0.0 and 0.0 compare equal, as in numpy. */
static int cmp_scored_label(const void *a, const void *b) {
    double x = ((const scored_label *)a)->s, y = ((const scored_label *)b)->s;
    return (x > y) - (x < y);
}

int drum_roc_auc(int n, const double *scores, const int *labels, double *auc, char *err,
                 size_t errlen) {
    if (n < 1) return drum_errorf(err, errlen, "roc auc: %d examples (need at least 1)", n);
    if (!scores || !labels || !auc)
        return drum_errorf(err, errlen, "roc auc: scores, labels or the result is NULL");
    long long pos = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return drum_errorf(err, errlen, "roc auc: label %d of example %d is not 0 or 1",
                               labels[i], i);
        if (!isfinite(scores[i]))
            return drum_errorf(err, errlen,
                               "roc auc: score %g of example %d is not finite (NaN or "
                               "infinite scores have no rank)",
                               scores[i], i);
        pos += labels[i];
    }
    long long neg = (long long)n - pos;
    if (pos == 0 || neg == 0)
        return drum_errorf(err, errlen,
                           "roc auc: only one class present in the labels (%lld positives, "
                           "%lld negatives); ROC AUC is not defined in that case",
                           pos, neg);
    scored_label *v = malloc((size_t)n * sizeof *v);
    if (!v) return drum_errorf(err, errlen, "roc auc: out of memory (%d examples)", n);
    for (int i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].y = labels[i];
    }
    qsort(v, (size_t)n, sizeof *v, cmp_scored_label);
    /* Twice the Mann-Whitney U, in integers: each positive of a group of tied scores beats
     * the negatives below the group (2 each) and ties its negatives (1 each). At most
     * 2 * pos * neg <= n^2 / 2 < 2^61 for any int n: no overflow. */
    unsigned long long u2 = 0, neg_below = 0;
    for (int i = 0; i < n;) {
        int j = i;
        unsigned long long gp = 0, gn = 0;
        while (j < n && v[j].s == v[i].s) {
            if (v[j].y) {
                gp++;
            } else {
                gn++;
            }
            j++;
        }
        u2 += gp * (2 * neg_below + gn);
        neg_below += gn;
        i = j;
    }
    free(v);
    /* Both operands are exact doubles while pos * neg < 2^52; the quotient is then the
     * correctly rounded U / (pos * neg). */
    *auc = (double)u2 / (2.0 * (double)pos * (double)neg);
    return 0;
}
