/* Properties of the cmdparse argument helpers, shared by fuzz_args (which
 * feeds them raw strings) and fuzz_cmdparse (which feeds them every
 * argument the line parser produced). */
#ifndef FERRY_FUZZ_ARGS_CHECK_H
#define FERRY_FUZZ_ARGS_CHECK_H

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ferry/cmdparse.h"
#include "fuzz.h"

static void check_offset(const char *arg)
{
    unsigned long long off = 0;
    char text[32];
    const char *digits;

    if (cmdparse_offset(arg, &off) < 0)
        return;
    /* Accepted: digits only, and they spell the value (leading zeros
     * aside). */
    digits = arg;
    while (digits[0] == '0' && digits[1] != '\0')
        digits++;
    snprintf(text, sizeof(text), "%llu", off);
    FUZZ_CHECK(strcmp(text, digits) == 0);
}

static void check_port(const char *arg)
{
    unsigned char ip[4], ip2[4];
    unsigned port = 0, port2 = 0;
    char text[64];

    if (cmdparse_port(arg, ip, &port) < 0)
        return;
    FUZZ_CHECK(port >= 1 && port <= 65535);
    /* Round trip through the canonical form. */
    snprintf(text, sizeof(text), "%u,%u,%u,%u,%u,%u", ip[0], ip[1], ip[2],
             ip[3], port >> 8, port & 255);
    FUZZ_CHECK(cmdparse_port(text, ip2, &port2) == 0);
    FUZZ_CHECK(memcmp(ip, ip2, 4) == 0 && port == port2);
}

static void check_eprt(const char *arg, size_t arglen)
{
    char addr[64];
    unsigned char bin[sizeof(struct in6_addr)];
    size_t smalllen = arglen % 50;
    char *small = malloc(smalllen ? smalllen : 1);
    int proto = 0, proto2 = 0, r, r2;
    unsigned port = 0, port2 = 0;

    FUZZ_CHECK(small != NULL);
    r = cmdparse_eprt(arg, &proto, addr, sizeof(addr), &port);
    if (r == 0) {
        FUZZ_CHECK(proto == 1 || proto == 2);
        FUZZ_CHECK(port >= 1 && port <= 65535);
        FUZZ_CHECK(strlen(addr) < sizeof(addr));
        FUZZ_CHECK(inet_pton(proto == 1 ? AF_INET : AF_INET6, addr, bin) == 1);
    } else {
        FUZZ_CHECK(r == -1);
    }
    /* A small, exact-size address buffer: never written past, and the
     * answer only differs when the address does not fit. */
    r2 = cmdparse_eprt(arg, &proto2, small, smalllen, &port2);
    if (r2 == 0) {
        FUZZ_CHECK(r == 0 && proto2 == proto && port2 == port);
        FUZZ_CHECK(strlen(small) < smalllen && strcmp(small, addr) == 0);
    } else if (r == 0) {
        FUZZ_CHECK(strlen(addr) + 1 > smalllen);
    }
    free(small);
}

static void check_list_arg(const char *arg, size_t arglen)
{
    int all = 7;
    const char *p = cmdparse_list_arg(arg, &all);

    FUZZ_CHECK(all == 0 || all == 1);
    FUZZ_CHECK(p != NULL);
    if (arg == NULL) {
        FUZZ_CHECK(*p == '\0');
        return;
    }
    FUZZ_CHECK(p >= arg && p <= arg + arglen);
    /* Only option words and the spaces after them are skipped. */
    FUZZ_CHECK(p == arg || arg[0] == '-');
    FUZZ_CHECK(p == arg || p[-1] == ' ' || *p == '\0');
}

static void check_args(const char *arg, size_t arglen)
{
    int r;

    r = cmdparse_type(arg);
    FUZZ_CHECK(r == 'A' || r == 'I' || r == -1);
    r = cmdparse_opts_utf8(arg);
    FUZZ_CHECK(r == 1 || r == 0 || r == -1);
    r = cmdparse_epsv(arg);
    FUZZ_CHECK(r == 0 || r == 1 || r == 2 || r == 'A' || r == -1);
    FUZZ_CHECK(r != 0 || arg == NULL || arg[0] == '\0');
    check_list_arg(arg, arglen);
    if (arg == NULL) {
        unsigned long long off;
        unsigned char ip[4];
        unsigned port;
        int proto;
        char addr[64];

        FUZZ_CHECK(cmdparse_offset(NULL, &off) == -1);
        FUZZ_CHECK(cmdparse_port(NULL, ip, &port) == -1);
        FUZZ_CHECK(cmdparse_eprt(NULL, &proto, addr, sizeof(addr), &port) == -1);
        return;
    }
    check_offset(arg);
    check_port(arg);
    check_eprt(arg, arglen);
}

#endif
