/* synthetic: /synthetic/<size> files from a shared pattern memfd, and the
 * /discard/ sink (see synthetic.h). */
#include "ferry/synthetic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry/pattern.h"

static int g_fd = -1;

int synthetic_init(void)
{
    size_t len = FERRY_PATTERN_PERIOD + SYNTHETIC_CHUNK;
    int fd = memfd_create("ferry-synthetic", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    void *p;

    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)len) < 0)
        goto fail;
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto fail;
    ferry_pattern_fill(p, 0, len);
    munmap(p, len);
    /* Nobody may change it afterwards, not even by accident. */
    (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    g_fd = fd;
    return 0;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

void synthetic_fini(void)
{
    if (g_fd >= 0)
        close(g_fd);
    g_fd = -1;
}

int synthetic_fd(void)
{
    return g_fd;
}

off_t synthetic_offset(unsigned long long off)
{
    return (off_t)(off % FERRY_PATTERN_PERIOD);
}

int synthetic_parse_size(const char *name, unsigned long long *size)
{
    unsigned long long v = 0, mul = 1;
    const char *p = name;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    switch (*p) {
    case '\0': break;
    case 'K': case 'k': mul = 1ull << 10; p++; break;
    case 'M': case 'm': mul = 1ull << 20; p++; break;
    case 'G': case 'g': mul = 1ull << 30; p++; break;
    case 'T': case 't': mul = 1ull << 40; p++; break;
    default: return -1;
    }
    if (*p != '\0')
        return -1;
    /* off_t is signed: keep sizes below 2^62. */
    if (v > (1ull << 62) / mul)
        return -1;
    *size = v * mul;
    return 0;
}

static int under(const char *vpath, const char *dir, const char **rest)
{
    size_t n = strlen(dir);
    if (strncmp(vpath, dir, n) != 0)
        return 0;
    if (vpath[n] == '\0') {
        *rest = "";
        return 1;
    }
    if (vpath[n] == '/') {
        *rest = vpath + n + 1;
        return 1;
    }
    return 0;
}

int synthetic_classify(const char *vpath, unsigned long long *size, int *bad)
{
    const char *rest;
    *bad = 0;
    if (under(vpath, "/synthetic", &rest)) {
        if (*rest == '\0')
            return SYN_DIR;
        if (strchr(rest, '/') || synthetic_parse_size(rest, size) < 0) {
            *bad = 1;
            return SYN_NONE;
        }
        return SYN_FILE;
    }
    if (under(vpath, "/discard", &rest))
        return *rest ? SYN_DISCARD_FILE : SYN_DISCARD_DIR;
    return SYN_NONE;
}
