/*
 * Shared between the files of the template runtime in src/template.
 */
#ifndef BENNU_TEMPLATE_INTERNAL_H
#define BENNU_TEMPLATE_INTERNAL_H

#include "bennu/template.h"

/** The three bytes of U+FFFD, which replaces NUL and invalid UTF-8. */
#define BN__TPL_FFFD "\xEF\xBF\xBD"

/**
 * The UTF-8 sequence that starts at `p` (p[0] >= 0x80, `avail` >= 1 bytes
 * readable): its length (2-4) if it is valid, else 0 with `*bad` set to the
 * length of its maximal invalid subpart, which becomes one U+FFFD (WHATWG).
 */
size_t bn__tpl_utf8_seq(const unsigned char *p, size_t avail, size_t *bad);

#endif
