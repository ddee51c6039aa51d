/* utf8.c — code point <-> byte offset conversion and UTF-8 sanitizing (see utf8.h). */
#include "base/utf8.h"

#include <stdlib.h>
#include <string.h>

size_t lb_utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c == 0xE0) { need = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 3;
    else if (c == 0xED) { need = 3; hi = 0x9F; }          /* no surrogates */
    else if (c >= 0xEE && c <= 0xEF) need = 3;
    else if (c == 0xF0) { need = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 4;
    else if (c == 0xF4) { need = 4; hi = 0x8F; }
    else return 0;
    if (n < need) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return need;
}

/* Length of one "character" for counting purposes: a valid sequence, else one byte. */
static size_t step(const unsigned char *s, size_t n)
{
    size_t k = lb_utf8_seq_len(s, n);
    return k ? k : 1;
}

size_t lb_utf8_cp_to_byte(const char *s, size_t len, size_t cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (cp > 0 && i < len) {
        i += step(u + i, len - i);
        cp--;
    }
    return i;
}

size_t lb_utf8_byte_to_cp(const char *s, size_t len, size_t byte)
{
    const unsigned char *u = (const unsigned char *)s;
    if (byte > len) byte = len;
    size_t i = 0, cp = 0;
    while (i < byte) {
        i += step(u + i, len - i);
        cp++;
    }
    return cp;
}

char *lb_utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Worst case: every byte becomes the 3-byte U+FFFD. */
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t k = u[i] ? lb_utf8_seq_len(u + i, len - i) : 0;
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            out[o++] = (char)0xEF; out[o++] = (char)0xBF; out[o++] = (char)0xBD;
            i++;
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

size_t lb_utf8_incomplete_tail(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned c = u[len - back];
        if (c >= 0x80 && c <= 0xBF) continue;          /* continuation: keep looking */
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (need <= back) return 0;                    /* ASCII, invalid, or complete */
        /* Is what we have a valid prefix? Pad it with the smallest continuation bytes
         * allowed after this lead byte and check the whole sequence. */
        unsigned char tmp[4];
        memcpy(tmp, u + len - back, back);
        for (size_t j = back; j < need; j++) tmp[j] = 0x80;
        if (back == 1 && c == 0xE0) tmp[1] = 0xA0;
        if (back == 1 && c == 0xF0) tmp[1] = 0x90;
        return lb_utf8_seq_len(tmp, need) ? back : 0;
    }
    return 0;
}

json_t *lb_json_text(const char *s, size_t len)
{
    size_t n;
    char *clean = lb_utf8_sanitize(s ? s : "", s ? len : 0, &n);
    if (!clean) return NULL;
    json_t *v = json_stringn_nocheck(clean, n);
    free(clean);
    return v;
}
