/* synthetic: ferryd as a load-testing target (--synthetic).
 *
 * /synthetic/<size> is a read-only file of the size its name asks for
 * ("4K", "1M", "1G", "10G", "123"; K/M/G/T are powers of 1024), whose
 * byte i is ferry_pattern_byte(i) (include/ferry/pattern.h), so a client can
 * verify every byte without a checksum file.  It is served with sendfile()
 * from one shared memfd holding a period of the pattern plus one chunk, so
 * every chunk is one contiguous range starting at off % period: no disk is
 * touched, whatever the size.
 *
 * /discard/<anything> is write-only: uploads are read and thrown away.
 *
 * Both folders exist only with --synthetic; they shadow real folders of
 * those names in the root.
 */
#ifndef FERRY_SYNTHETIC_H
#define FERRY_SYNTHETIC_H

#include <stddef.h>
#include <sys/types.h>

/* Largest sendfile chunk taken from the memfd in one call. */
#define SYNTHETIC_CHUNK (1u << 20)

/* Create the shared pattern memfd; 0 or -errno.  Call once at start-up. */
int synthetic_init(void);
void synthetic_fini(void);
/* The memfd (read-only use with explicit offsets: it is shared by all
 * sessions and threads, so its file position is never used). */
int synthetic_fd(void);
/* Offset in the memfd at which file offset off starts. */
off_t synthetic_offset(unsigned long long off);

enum synthetic_kind { SYN_NONE, SYN_DIR, SYN_FILE, SYN_DISCARD_DIR, SYN_DISCARD_FILE };
/* Classify a virtual path; for SYN_FILE *size is set.  An unparsable name
 * under /synthetic/ is SYN_NONE with *bad set (the caller answers 550). */
int synthetic_classify(const char *vpath, unsigned long long *size, int *bad);

/* Parse "4K", "10G", "123" -> bytes; 0 or -1.  Pure. */
int synthetic_parse_size(const char *name, unsigned long long *size);

#endif
