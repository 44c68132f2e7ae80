/* args.h — the small option parser the CLI commands share: "--name value" pairs. */
#ifndef DRUM_CLI_ARGS_H
#define DRUM_CLI_ARGS_H

/* When argv[*i] is `name`, stores the next argument in *value, advances *i and returns 1;
 * a missing value prints an error and returns -1; otherwise 0. */
int arg_value(int argc, char **argv, int *i, const char *name, const char **value);
/* Parses an int option value; prints an error naming the option and returns -1 when the
 * text is not an integer in [lo, hi]. */
int arg_int(const char *name, const char *text, long lo, long hi, int *out);
/* The same for a finite number in [lo, hi]. */
int arg_float(const char *name, const char *text, double lo, double hi, float *out);
/* The same for one of two names: *out = 0 for a, 1 for b; otherwise an error "expected a or
 * b" naming the option. */
int arg_either(const char *name, const char *text, const char *a, const char *b, int *out);

#endif
