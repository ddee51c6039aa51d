/* test_history.c — unit tests of the persisted history (kernel/jupyter/history.c): append, reload
 * across "restarts", session numbering, tail/range/search (glob, unique, n, output), a torn
 * last line and a record glued onto it, and the data-dir lookup. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "jupyter/history.h"

static char dir[64];
static char path[128];

static void fresh(void)
{
    snprintf(path, sizeof path, "%s/h/labbook/history.jsonl", dir);   /* dirs created on open */
    unlink(path);
}

static void append_raw(const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    ssize_t w = write(fd, text, strlen(text));
    CHECK(w == (ssize_t)strlen(text));
    close(fd);
}

static const char *input_of(json_t *item)
{
    json_t *third = json_array_get(item, 2);
    if (json_is_array(third)) return json_string_value(json_array_get(third, 0));
    return json_string_value(third);
}

static void test_append_and_reload(void)
{
    fresh();
    char err[256];
    lb_history *h = lb_history_open(path, err, sizeof err);
    CHECK(h != NULL);
    CHECK_STR(err, "");
    CHECK_INT(lb_history_session(h), 1);
    CHECK_INT(lb_history_add_input(h, 1, "x = 6 * 7"), 0);
    CHECK_INT(lb_history_add_input(h, 2, "x"), 0);
    CHECK_INT(lb_history_add_output(h, 2, "42"), 0);
    CHECK_INT(lb_history_add_input(h, 3, "print \"é\"\nx"), 0);
    lb_history_free(h);

    h = lb_history_open(path, err, sizeof err);   /* a kernel restart */
    CHECK_INT(lb_history_session(h), 2);
    CHECK_INT(lb_history_count(h), 3);
    json_t *t = lb_history_tail(h, 10, true);
    CHECK_INT(json_array_size(t), 3);
    json_t *second = json_array_get(t, 1);
    CHECK_INT(json_integer_value(json_array_get(second, 0)), 1);
    CHECK_INT(json_integer_value(json_array_get(second, 1)), 2);
    CHECK_STR(json_string_value(json_array_get(json_array_get(second, 2), 0)), "x");
    CHECK_STR(json_string_value(json_array_get(json_array_get(second, 2), 1)), "42");
    CHECK(json_is_null(json_array_get(json_array_get(json_array_get(t, 0), 2), 1)));
    CHECK_STR(input_of(json_array_get(t, 2)), "print \"é\"\nx");
    json_decref(t);
    lb_history_add_input(h, 1, "y = 1");
    lb_history_free(h);

    h = lb_history_open(path, err, sizeof err);
    CHECK_INT(lb_history_session(h), 3);
    CHECK_INT(lb_history_count(h), 4);
    lb_history_free(h);
}

static void test_tail_range(void)
{
    fresh();
    char err[256];
    lb_history *h = lb_history_open(path, err, sizeof err);
    for (int i = 1; i <= 5; i++) {
        char code[32];
        snprintf(code, sizeof code, "cell %d", i);
        lb_history_add_input(h, i, code);
    }
    lb_history_free(h);
    h = lb_history_open(path, err, sizeof err);   /* session 2 */
    lb_history_add_input(h, 1, "new 1");
    lb_history_add_input(h, 2, "new 2");

    json_t *t = lb_history_tail(h, 3, false);
    CHECK_INT(json_array_size(t), 3);
    CHECK_STR(input_of(json_array_get(t, 0)), "cell 5");
    CHECK_STR(input_of(json_array_get(t, 2)), "new 2");
    CHECK_INT(json_array_size(json_array_get(t, 0)), 3);
    json_decref(t);
    t = lb_history_tail(h, 0, false);
    CHECK_INT(json_array_size(t), 0);
    json_decref(t);

    t = lb_history_range(h, 1, 2, 4, false);   /* lines 2 and 3 of session 1 */
    CHECK_INT(json_array_size(t), 2);
    CHECK_STR(input_of(json_array_get(t, 0)), "cell 2");
    CHECK_STR(input_of(json_array_get(t, 1)), "cell 3");
    json_decref(t);
    t = lb_history_range(h, 0, 1, 0, false);   /* the current session, all */
    CHECK_INT(json_array_size(t), 2);
    CHECK_INT(json_integer_value(json_array_get(json_array_get(t, 0), 0)), 2);
    json_decref(t);
    t = lb_history_range(h, -1, 4, 0, true);   /* the previous session from line 4 */
    CHECK_INT(json_array_size(t), 2);
    CHECK_STR(input_of(json_array_get(t, 0)), "cell 4");
    json_decref(t);
    t = lb_history_range(h, 7, 1, 0, false);
    CHECK_INT(json_array_size(t), 0);
    json_decref(t);
    lb_history_free(h);
}

static void test_search(void)
{
    fresh();
    char err[256];
    lb_history *h = lb_history_open(path, err, sizeof err);
    const char *cells[] = {"a = 1", "b = 2", "a = 1", "print a\nprint b", "a = 1", "A = 1", "[x]"};
    for (int i = 0; i < 7; i++) lb_history_add_input(h, i + 1, cells[i]);

    json_t *t = lb_history_search(h, "a*", 0, false, false);
    CHECK_INT(json_array_size(t), 3);   /* case-sensitive, whole input */
    json_decref(t);
    t = lb_history_search(h, "a*", 0, true, false);
    CHECK_INT(json_array_size(t), 1);
    CHECK_INT(json_integer_value(json_array_get(json_array_get(t, 0), 1)), 5);   /* the latest */
    json_decref(t);
    t = lb_history_search(h, "a*", 2, false, false);
    CHECK_INT(json_array_size(t), 2);
    CHECK_INT(json_integer_value(json_array_get(json_array_get(t, 0), 1)), 3);   /* oldest first */
    CHECK_INT(json_integer_value(json_array_get(json_array_get(t, 1), 1)), 5);
    json_decref(t);
    t = lb_history_search(h, "print*b", 0, false, false);   /* '*' spans lines */
    CHECK_INT(json_array_size(t), 1);
    json_decref(t);
    t = lb_history_search(h, "?\\ = 1", 0, false, false);   /* no escapes, like GLOB */
    CHECK_INT(json_array_size(t), 0);
    json_decref(t);
    t = lb_history_search(h, "[[]x]", 0, false, false);
    CHECK_INT(json_array_size(t), 1);
    json_decref(t);
    t = lb_history_search(h, NULL, 0, false, true);   /* default "*" */
    CHECK_INT(json_array_size(t), 7);
    CHECK(json_is_array(json_array_get(json_array_get(t, 0), 2)));
    json_decref(t);
    t = lb_history_search(h, "?", 0, false, false);
    CHECK_INT(json_array_size(t), 0);
    json_decref(t);
    lb_history_free(h);
}

static void test_torn_last_line(void)
{
    fresh();
    char err[256];
    lb_history *h = lb_history_open(path, err, sizeof err);
    lb_history_add_input(h, 1, "kept 1");
    lb_history_add_input(h, 2, "kept 2");
    lb_history_free(h);
    append_raw("{\"session\":1,\"line\":3,\"input\":\"torn");   /* a crash mid-write */
    h = lb_history_open(path, err, sizeof err);
    CHECK_STR(err, "");
    CHECK_INT(lb_history_count(h), 2);
    CHECK_INT(lb_history_session(h), 2);
    lb_history_add_input(h, 1, "after");
    lb_history_free(h);
    h = lb_history_open(path, err, sizeof err);
    CHECK_INT(lb_history_count(h), 3);   /* the torn record is gone, nothing else */
    json_t *t = lb_history_tail(h, 1, false);
    CHECK_STR(input_of(json_array_get(t, 0)), "after");
    json_decref(t);
    lb_history_free(h);

    /* A record glued onto a torn one (another kernel appended after a crash) is recovered;
     * garbage lines are skipped. */
    append_raw("{\"session\":3,\"li{\"session\":3,\"line\":1,\"input\":\"glued\"}\n");
    append_raw("not json at all\n[1,2]\n{\"session\":\"x\"}\n\n");
    h = lb_history_open(path, err, sizeof err);
    CHECK_INT(lb_history_count(h), 4);
    t = lb_history_search(h, "glued", 0, false, false);
    CHECK_INT(json_array_size(t), 1);
    json_decref(t);
    CHECK_INT(lb_history_session(h), 4);
    lb_history_free(h);
}

static void test_concurrent_sessions_distinct(void)
{
    fresh();
    char err[256];
    lb_history *a = lb_history_open(path, err, sizeof err);
    lb_history *b = lb_history_open(path, err, sizeof err);
    CHECK(lb_history_session(a) != lb_history_session(b));
    lb_history_add_input(a, 1, "from a");
    lb_history_add_input(b, 1, "from b");
    lb_history_add_output(a, 1, "A");
    lb_history_free(a);
    lb_history_free(b);
    lb_history *c = lb_history_open(path, err, sizeof err);
    CHECK_INT(lb_history_count(c), 2);
    CHECK_INT(lb_history_session(c), 3);
    json_t *t = lb_history_search(c, "from a", 0, false, true);
    CHECK_STR(json_string_value(json_array_get(json_array_get(json_array_get(t, 0), 2), 1)), "A");
    json_decref(t);
    lb_history_free(c);
}

static void test_unwritable_falls_back_to_memory(void)
{
    char err[256];
    char bad[128];
    snprintf(bad, sizeof bad, "%s/file", dir);
    int fd = open(bad, O_CREAT | O_WRONLY, 0600);
    close(fd);
    char p[160];
    snprintf(p, sizeof p, "%s/under/history.jsonl", bad);   /* parent is a regular file */
    lb_history *h = lb_history_open(p, err, sizeof err);
    CHECK(h != NULL);
    CHECK(strstr(err, "memory") != NULL);
    CHECK_INT(lb_history_session(h), 1);
    CHECK_INT(lb_history_add_input(h, 1, "still works"), 0);
    json_t *t = lb_history_tail(h, 5, false);
    CHECK_INT(json_array_size(t), 1);
    json_decref(t);
    lb_history_free(h);
}

static void test_data_dir(void)
{
    char *saved_j = getenv("JUPYTER_DATA_DIR") ? strdup(getenv("JUPYTER_DATA_DIR")) : NULL;
    char *saved_x = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *saved_h = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("JUPYTER_DATA_DIR", "/j", 1);
    char *d = lb_jupyter_data_dir();
    CHECK_STR(d, "/j");
    free(d);
    d = lb_history_default_path();
    CHECK_STR(d, "/j/labbook/history.jsonl");
    free(d);
    unsetenv("JUPYTER_DATA_DIR");
    setenv("XDG_DATA_HOME", "/x", 1);
    d = lb_jupyter_data_dir();
    CHECK_STR(d, "/x/jupyter");
    free(d);
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/home/u", 1);
    d = lb_jupyter_data_dir();
    CHECK_STR(d, "/home/u/.local/share/jupyter");
    free(d);
    if (saved_j) setenv("JUPYTER_DATA_DIR", saved_j, 1);
    if (saved_x) setenv("XDG_DATA_HOME", saved_x, 1);
    if (saved_h) setenv("HOME", saved_h, 1); else unsetenv("HOME");
    free(saved_j);
    free(saved_x);
    free(saved_h);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/lb-history-XXXXXX");
    const char *tmp = getenv("TMPDIR");
    if (tmp && strlen(tmp) < 40) snprintf(dir, sizeof dir, "%s/lb-history-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_append_and_reload);
    RUN(test_tail_range);
    RUN(test_search);
    RUN(test_torn_last_line);
    RUN(test_concurrent_sessions_distinct);
    RUN(test_unwritable_falls_back_to_memory);
    RUN(test_data_dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    int rc = system(cmd);
    (void)rc;
    return CHECK_SUMMARY();
}
