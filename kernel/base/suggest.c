/* suggest.c — "did you mean": the edit distance between two names and the closest of a list
 * of candidates (used for unknown commands, variables, parameters, metrics, CSV columns). */
#include <ctype.h>
#include <string.h>

#include "base/suggest.h"

int lb_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return (int)(n > m ? n : m) + 100;
    int d[66][66];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

const char *lb_suggest(const char *name, const char *const *candidates, size_t n)
{
    if (!name || !name[0])
        return NULL;
    size_t len = strlen(name);
    int limit = len >= 8 ? 3 : len >= 5 ? 2 : 1;
    const char *best = NULL;
    int best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        const char *c = candidates[i];
        if (!c || strcmp(c, name) == 0)
            continue;
        int d = lb_edit_distance(name, c);
        size_t clen = strlen(c);
        size_t shorter = clen < len ? clen : len;
        /* a suggestion must keep something of the name: 'y' is no typo of 'x' */
        if ((size_t)d >= shorter)
            continue;
        if (d < best_d || (d == best_d && best && strcmp(c, best) < 0)) {
            best = c;
            best_d = d;
        }
    }
    return best;
}
