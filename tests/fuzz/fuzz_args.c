/* fuzz_args: the cmdparse argument helpers on arbitrary strings.  The
 * input is the argument as the session would pass it: a C string (it ends
 * at the first NUL byte, as any C caller's would). */
#include "args_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *arg;
    size_t n;

    if (size > 65536)
        return 0;
    n = strnlen((const char *)data, size);
    arg = fuzz_strdup(data, n);   /* exact size: string and NUL, no more */
    check_args(arg, n);
    free(arg);
    return 0;
}
