/*
 * web/parsers.h — the request parsers behind params and cookies [Plug.Parsers,
 * Plug.Conn.Query, Plug.Conn.Cookies]: pure functions over bytes (no socket, no
 * bn_conn) that fill a bn_value tree. Internal to the web layer.
 */
#ifndef BENNU_WEB_PARSERS_H
#define BENNU_WEB_PARSERS_H

#include <stdint.h>

#include "bennu/cookie.h"
#include "bennu/value.h"

/* ------------------------------------------------------------------------ */
/* Limits                                                                     */

/** What a client may send as params. A zero field means "use the default". */
typedef struct bn_params_limits {
    size_t max_depth;           /* bracket segments per key ("a[b][c]" has 2); 32 */
    size_t max_pairs;           /* urlencoded pairs per input; 1000 */
    size_t max_key_len;         /* bytes of a key as sent (still encoded); 1024 */
    size_t max_parts;           /* multipart parts per body; 1000 */
    size_t max_part_header;     /* bytes of one part's header block; 8 KiB */
    size_t max_header_line;     /* bytes of one part header line; 4 KiB */
    size_t max_field_size;      /* bytes of a plain (non-file) multipart field; 1 MiB */
    size_t max_files;           /* file parts per body; 100 */
    uint64_t max_file_size;     /* bytes of one uploaded file; 8 MiB */
    uint64_t max_files_total;   /* bytes of all uploaded files of a body; 32 MiB */
} bn_params_limits;

/** `lim` with every zero field replaced by its default (lim may be NULL). */
bn_params_limits bn__params_limits_resolve(const bn_params_limits *lim);

/* ------------------------------------------------------------------------ */
/* Percent-decoding, keys, urlencoded (src/web/urlencoded.c)                  */

/**
 * Decodes %XX escapes (and '+' as a space if `plus_is_space`) of `in` into a
 * copy in `a` (NUL-terminated). False on a broken escape ("%zz", "%4" at the
 * end); `*out` is untouched then.
 */
bool bn__percent_decode(bn_arena *a, bn_str in, bool plus_is_space, bn_str *out);

/** True if `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool bn__utf8_valid(bn_str s);

enum { BN__QUOTE_SIZE = 140 };
/**
 * `s` as a double-quoted C-like literal for error messages, safe to show in
 * any response: printable ASCII kept, other bytes as \xHH, cut after 32 bytes
 * with "...". Returns `buf`.
 */
const char *bn__quote(bn_str s, char buf[BN__QUOTE_SIZE]);

/**
 * Stores `value` in the object `root` under the (decoded) params key `key`,
 * the one rule shared by query strings, urlencoded and multipart bodies:
 *
 *   "a"            root.a = value (a later duplicate replaces an earlier one)
 *   "a[b][c]"      root.a.b.c = value, objects made on the way
 *   "a[]"          value appended to the array root.a
 *   "a[][b]"       arrays of objects: b is set in the array's last object,
 *                  unless that object already has b (then a new object is
 *                  appended): "a[][b]=1&a[][c]=2&a[][b]=3" -> [{b:1,c:2},{b:3}]
 *
 * Conflicts are last-wins: a value of the wrong kind on the way (a string
 * where an object or array is needed, or the reverse) is replaced. A key whose
 * name (the part before the first '[') is empty is skipped (returns 1); a key
 * with malformed brackets ("a[b", "a[b]c") is taken literally as a flat name.
 * Returns 0, 1 (skipped), or -1 with a message in `err` (too deep, too long).
 */
int bn__params_put(bn_arena *a, bn_value *root, bn_str key, bn_value *value, const bn_params_limits *lim,
                   char *err, size_t errlen);

/**
 * Parses an application/x-www-form-urlencoded body or a query string
 * ("a=1&b=x+y&user[name]=z") into the object `into` (merged, so query, body
 * and path params can share one tree), '+' decoding as a space. Pairs are
 * separated by '&'; empty pairs and empty keys are skipped; a pair without
 * '=' has the value "". Keys and values must be valid UTF-8 after decoding.
 * Returns 0, or -1 with a message for a 400 response in `err` (broken
 * percent-encoding, invalid UTF-8, a limit exceeded); `into` may then hold
 * part of the input.
 */
int bn__parse_urlencoded(bn_arena *a, bn_str input, bn_value *into, const bn_params_limits *lim, char *err,
                         size_t errlen);

/* ------------------------------------------------------------------------ */
/* multipart/form-data, RFC 7578 (src/web/multipart.c)                        */

/**
 * The boundary parameter of a multipart Content-Type
 * ('multipart/form-data; boundary=xyz', quoted or not), as a slice of
 * `content_type`. False if it is missing or not a valid boundary (1-70
 * printable ASCII characters, RFC 2046).
 */
bool bn__multipart_boundary(bn_str content_type, bn_str *boundary);

/** The headers of one part, handed to on_part_begin (slices valid during the call). */
typedef struct bn__part_info {
    bn_str name;         /* Content-Disposition name; ptr NULL if absent */
    bn_str filename;     /* filename (filename*=UTF-8'' preferred); ptr NULL if absent */
    bn_str content_type; /* ptr NULL if absent */
    bool form_data;      /* the disposition type is form-data */
} bn__part_info;

typedef struct bn__multipart bn__multipart;

/** Return 0 to go on, -1 to stop the parse (set a message with bn__multipart_fail). */
typedef struct bn__multipart_callbacks {
    int (*on_part_begin)(bn__multipart *p, const bn__part_info *info);
    int (*on_part_data)(bn__multipart *p, const char *data, size_t len);
    int (*on_part_end)(bn__multipart *p);
} bn__multipart_callbacks;

/** An incremental (push) multipart parser; fields are private but for `ud` and `err`. */
struct bn__multipart {
    void *ud;      /* the caller's, for callbacks */
    char err[160]; /* the message after an error */
    /* private */
    const bn__multipart_callbacks *cb;
    bn_arena *arena;
    bn_params_limits lim;
    char *delim; /* "\r\n--" boundary */
    size_t delim_len;
    int state;
    size_t matched; /* bytes of delim matched at the end of what was seen */
    size_t parts;
    char *hdr; /* the current part's header block */
    size_t hdr_len;
    size_t line_start;
};

/** Prepares `p` for a body with this boundary; allocates from `a` (no free needed). */
void bn__multipart_init(bn__multipart *p, bn_arena *a, bn_str boundary, const bn_params_limits *lim,
                        const bn__multipart_callbacks *cb, void *ud);
/**
 * Feeds the next bytes of the body, split anywhere. Returns 0, or -1 with a
 * message in p->err (then every later call fails too). Bytes after the final
 * boundary (the epilogue) are ignored.
 */
int bn__multipart_feed(bn__multipart *p, const char *data, size_t len);
/** Ends the input: 0 if the final boundary was seen, else -1 (unterminated body). */
int bn__multipart_finish(bn__multipart *p);
/** Puts the parser in the error state with a message; returns -1 (for callbacks). */
int bn__multipart_fail(bn__multipart *p, const char *fmt, ...) BN_PRINTF(2, 3);

/** One uploaded file, written to a temporary file. */
typedef struct bn__upload {
    bn_str field;        /* the form field name as sent (in the arena) */
    bn_str filename;     /* as sent by the client (in the arena); never trust it as a path */
    bn_str content_type; /* (in the arena); ptr NULL if the part had none */
    char *path;          /* the temporary file (heap, owned by the list) */
    uint64_t size;
} bn__upload;

/** The uploads of a request. Cleanup reads only heap memory, so it may follow an arena reset. */
typedef struct bn__uploads {
    bn__upload *items; /* heap */
    size_t len, cap;
} bn__uploads;

#define BN__UPLOADS_INIT {NULL, 0, 0}

/** Unlinks every temporary file of the list and frees it (reusable afterwards). */
void bn__uploads_cleanup(bn__uploads *u);

/**
 * Parses a multipart/form-data body into `into`. A plain field is stored like
 * an urlencoded pair (bn__params_put: brackets nest, last wins). A file part
 * (one with a filename) is written to a 0600 temporary file under $TMPDIR
 * (default /tmp), appended to `uploads`, and stored as the object
 * {"filename", "content_type" (null if none), "path", "size"}; a file part
 * with an empty filename (no file chosen) is skipped. `uploads` NULL refuses
 * file parts. Names, plain values and filenames must be valid UTF-8.
 * Returns 0, or -1 with a message in `err`; after an error every file this
 * call created has been removed and dropped from `uploads`.
 */
int bn__parse_multipart(bn_arena *a, bn_str body, bn_str content_type, bn_value *into, bn__uploads *uploads,
                        const bn_params_limits *lim, char *err, size_t errlen);

/**
 * The same as bn__parse_multipart, fed as the body arrives (the server
 * streams large multipart bodies this way instead of buffering them). begin
 * returns NULL (message in `err`) for a bad Content-Type; feed and finish
 * return 0 or -1 with a message; after an error, or after abort (the body
 * never completed), this body's temporary files are removed from `uploads`.
 * The form lives in `a`.
 */
typedef struct bn__multipart_form bn__multipart_form;
bn__multipart_form *bn__multipart_form_begin(bn_arena *a, bn_str content_type, bn_value *into, bn__uploads *uploads,
                                             const bn_params_limits *lim, char *err, size_t errlen);
int bn__multipart_form_feed(bn__multipart_form *mf, const char *data, size_t len, char *err, size_t errlen);
int bn__multipart_form_finish(bn__multipart_form *mf, char *err, size_t errlen);
void bn__multipart_form_abort(bn__multipart_form *mf);
/** After a failed feed: true if a size limit (a file, all files, a field) was the cause. */
bool bn__multipart_form_too_large(const bn__multipart_form *mf);

/* ------------------------------------------------------------------------ */
/* Cookies, RFC 6265 (src/web/cookie.c)                                       */

enum {
    BN__COOKIE_MAX_COUNT = 256, /* cookies read from one header; later ones are ignored */
    BN__COOKIE_MAX_PAIR = 4096, /* bytes of name=value; a longer pair is skipped */
};

/**
 * Parses a request Cookie header ("a=1; b=\"2\"") into the object `into`:
 * values are copied without their surrounding quotes and not decoded. Pairs
 * with no '=', a name that is not a token, or a control character in the
 * value are skipped; the first occurrence of a name wins (browsers send the
 * most specific cookie first), including over members `into` already has.
 * Returns the number of cookies added.
 */
int bn__parse_cookie_header(bn_arena *a, bn_str header, bn_value *into);

/**
 * Appends the value of a Set-Cookie header for name=value with `attrs`
 * (NULL: BN_COOKIE_ATTRS_DEFAULT). Refuses (returns false, appends nothing)
 * a name that is not a token, a value outside RFC 6265 cookie-octets (it may
 * be wrapped in double quotes), or a path/domain with a control character or
 * ';'.
 */
bool bn__cookie_serialize(bn_buf *out, bn_str name, bn_str value, const bn_cookie_attrs *attrs);
/** The same with `now` (seconds since the epoch) for Expires, so tests are deterministic. */
bool bn__cookie_serialize_at(bn_buf *out, bn_str name, bn_str value, const bn_cookie_attrs *attrs, int64_t now);

#endif /* BENNU_WEB_PARSERS_H */
