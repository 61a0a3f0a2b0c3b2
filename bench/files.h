/* files: the set of remote file names a get or churn run cycles through,
 * from --files patterns and --file-list files. */
#ifndef FERRY_BENCH_FILES_H
#define FERRY_BENCH_FILES_H

#include <stddef.h>

struct file_set {
    char  **names;
    size_t  n, cap;
};

/* The most names one run may hold, so a typo like {0..999999999} fails
 * instead of eating the machine. */
#define FILES_MAX 10000000u

/* Add the names a pattern stands for.  A pattern is a name with at most
 * one numeric range {A..B}: "data/f{1..3}" gives data/f1 data/f2 data/f3,
 * and a range written with leading zeros keeps the width: "x{08..10}"
 * gives x08 x09 x10.  A name without braces stands for itself.
 * 0, or -1 with err set. */
int files_add_pattern(struct file_set *fs, const char *pat,
                      char *err, size_t errlen);

/* Add one name per line of a local file; blank lines and lines starting
 * with '#' are skipped, a trailing CR is dropped.  0, or -1 with err. */
int files_add_list(struct file_set *fs, const char *path,
                   char *err, size_t errlen);

void files_free(struct file_set *fs);

#endif
