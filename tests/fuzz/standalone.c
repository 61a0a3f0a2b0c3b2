/* A main() for the fuzz targets without libFuzzer: runs each file named on
 * the command line through LLVMFuzzerTestOneInput() once.  Built without
 * sanitizers, so that the corpus and the regression inputs can be replayed
 * under valgrind as well. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs are small; anything bigger is not one of ours. */
#define INPUT_MAX (4u << 20)

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    data = malloc(INPUT_MAX);
    if (data == NULL) {
        fclose(f);
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    n = fread(data, 1, INPUT_MAX, f);
    if (ferror(f) || !feof(f)) {
        fprintf(stderr, "%s: read error or larger than %u bytes\n", path,
                INPUT_MAX);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* An exact-size copy, as libFuzzer passes it. */
    {
        uint8_t *exact = malloc(n ? n : 1);

        if (exact == NULL) {
            free(data);
            return -1;
        }
        memcpy(exact, data, n);
        free(data);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    printf("ok %s (%zu bytes)\n", path, n);
    return 0;
}

int main(int argc, char **argv)
{
    int i, failed = 0;

    for (i = 1; i < argc; i++)
        if (run_file(argv[i]) < 0)
            failed = 1;
    return failed;
}
