/* args.h — the small option parser the CLI commands share: "--name value" pairs. */
#ifndef DRUM_CLI_ARGS_H
#define DRUM_CLI_ARGS_H

/* When argv[*i] is `name`, stores the next argument in *value, advances *i and returns 1;
 * a missing value, or an option given a second time, prints an error and returns -1;
 * otherwise 0. */
int arg_value(int argc, char **argv, int *i, const char *name, const char **value);
/* Stores a positional argument `text` in *slot; when *slot holds one already, prints "one
 * <what> expected, got A and B" and returns -1 (an unquoted value split in two, or two
 * files where the command takes one). */
int arg_positional(const char *what, const char *text, const char **slot);
/* 1 when s asks for a command's help: --help or -h. */
int arg_is_help(const char *s);
/* Parses a u64 option value (a seed); prints an error naming the option and returns -1 when
 * the text is not a decimal integer in [0, 2^64 - 1]. */
int arg_u64(const char *name, const char *text, unsigned long long *out);
/* Parses an int option value; prints an error naming the option and returns -1 when the
 * text is not an integer in [lo, hi]. */
int arg_int(const char *name, const char *text, long lo, long hi, int *out);
/* The same for a finite number in [lo, hi]. */
int arg_float(const char *name, const char *text, double lo, double hi, float *out);
/* The same for one of two names: *out = 0 for a, 1 for b; otherwise an error "expected a or
 * b" naming the option. */
int arg_either(const char *name, const char *text, const char *a, const char *b, int *out);

#endif
