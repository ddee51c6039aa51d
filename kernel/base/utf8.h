/* utf8.h — UTF-8 helpers for the Jupyter side: Jupyter counts cursor positions in Unicode
 * code points while the interpreter works in byte offsets; JSON strings must be valid UTF-8
 * while user output may not be. */
#ifndef LB_UTF8_H
#define LB_UTF8_H

#include <jansson.h>
#include <stddef.h>

/* Byte offset of code point number `cp` in s[0..len); clamped to len. Invalid bytes count
 * as one code point each (as they become one U+FFFD when sanitized). */
size_t lb_utf8_cp_to_byte(const char *s, size_t len, size_t cp);
/* Number of code points in s[0..byte); byte is clamped to len, and an offset inside a
 * multi-byte sequence counts the partial sequence as one code point. */
size_t lb_utf8_byte_to_cp(const char *s, size_t len, size_t byte);
/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if s[0] does not start a
 * valid, complete sequence within n bytes. */
size_t lb_utf8_seq_len(const unsigned char *s, size_t n);
/* A malloc'd NUL-terminated copy of s[0..len) in which every invalid byte and every NUL is
 * replaced by U+FFFD; *out_len (may be NULL) gets its length. NULL only when out of memory. */
char *lb_utf8_sanitize(const char *s, size_t len, size_t *out_len);
/* How many bytes at the end of s[0..len) are a truncated but so far valid multi-byte
 * sequence (0..3): a stream split there can be completed by the next chunk. */
size_t lb_utf8_incomplete_tail(const char *s, size_t len);
/* A JSON string from arbitrary bytes (invalid UTF-8 becomes U+FFFD): jansson refuses invalid
 * UTF-8, and a NULL would silently drop the text from the message being built. */
json_t *lb_json_text(const char *s, size_t len);

#endif
