/* suggest.h — "did you mean" suggestions for mistyped names. */
#ifndef LB_SUGGEST_H
#define LB_SUGGEST_H

#include <stddef.h>

/* Edit distance (Damerau, optimal string alignment; letters compared case-insensitively) and
 * the "did you mean" choice: the closest candidate close enough to be a likely typo of name,
 * or NULL. */
int lb_edit_distance(const char *a, const char *b);
const char *lb_suggest(const char *name, const char *const *candidates, size_t n);

#endif
