/* commands.c — the command table (registration, lookup, did-you-mean, documentation text)
 * and the edit distance used for every "did you mean" suggestion in labbook. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/commands.h"
#include "render/table.h"
#include "lang/lexer.h"
#include "base/strbuf.h"

struct lb_commands {
    const lb_command **items; /* sorted by name */
    size_t len, cap;
};

lb_commands *lb_commands_new(void)
{
    return calloc(1, sizeof(lb_commands));
}

void lb_commands_free(lb_commands *cmds)
{
    if (!cmds)
        return;
    free(cmds->items);
    free(cmds);
}

static bool is_identifier(const char *s)
{
    if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return false;
    return true;
}

int lb_commands_register(lb_commands *cmds, const lb_command *cmd, lb_error *err)
{
    if (!cmds || !cmd)
        return lb_error_set(err, "RegistrationError", 0, 0, "no command to register");
    if (!is_identifier(cmd->name))
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register command '%s': a command name must be an identifier",
                            cmd->name ? cmd->name : "(null)");
    if (lb_is_keyword(cmd->name))
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register command '%s': it is a keyword", cmd->name);
    if (!cmd->handler)
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register command '%s': it has no handler", cmd->name);
    if (lb_commands_find(cmds, cmd->name))
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register command '%s': a command of that name is already "
                            "registered",
                            cmd->name);
    if (cmd->max_args >= 0 && cmd->max_args < cmd->min_args)
        return lb_error_set(err, "RegistrationError", 0, 0,
                            "cannot register command '%s': max_args %d < min_args %d", cmd->name,
                            cmd->max_args, cmd->min_args);
    for (const lb_param *a = cmd->params; a && a->name; a++) {
        if (!is_identifier(a->name))
            return lb_error_set(err, "RegistrationError", 0, 0,
                                "cannot register command '%s': bad parameter name '%s'", cmd->name,
                                a->name);
        for (const lb_param *b = cmd->params; b != a; b++)
            if (strcmp(a->name, b->name) == 0)
                return lb_error_set(err, "RegistrationError", 0, 0,
                                    "cannot register command '%s': parameter '%s' is listed twice",
                                    cmd->name, a->name);
    }
    if (cmds->len == cmds->cap) {
        size_t cap = cmds->cap ? cmds->cap * 2 : 32;
        const lb_command **items = realloc(cmds->items, cap * sizeof *items);
        if (!items)
            return lb_oom(err);
        cmds->items = items;
        cmds->cap = cap;
    }
    size_t pos = 0;
    while (pos < cmds->len && strcmp(cmds->items[pos]->name, cmd->name) < 0)
        pos++;
    memmove(&cmds->items[pos + 1], &cmds->items[pos], (cmds->len - pos) * sizeof *cmds->items);
    cmds->items[pos] = cmd;
    cmds->len++;
    return 0;
}

const lb_command *lb_commands_find(const lb_commands *cmds, const char *name)
{
    if (!cmds || !name)
        return NULL;
    size_t lo = 0, hi = cmds->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(cmds->items[mid]->name, name);
        if (c == 0)
            return cmds->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t lb_commands_count(const lb_commands *cmds)
{
    return cmds ? cmds->len : 0;
}

const lb_command *lb_commands_at(const lb_commands *cmds, size_t i)
{
    return cmds && i < cmds->len ? cmds->items[i] : NULL;
}

const char *lb_commands_suggest(const lb_commands *cmds, const char *name)
{
    if (!cmds || cmds->len == 0)
        return NULL;
    const char **names = malloc(cmds->len * sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < cmds->len; i++)
        names[i] = cmds->items[i]->name;
    const char *s = lb_suggest(name, names, cmds->len);
    free(names);
    return s;
}

const lb_param *lb_command_param(const lb_command *cmd, const char *name)
{
    for (const lb_param *a = cmd ? cmd->params : NULL; a && a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

bool lb_param_type_ok(lb_param_type t, const lb_value *v)
{
    switch (t) {
    case LB_PARAM_ANY: return true;
    case LB_PARAM_BOOL: return v->kind == LB_BOOL;
    case LB_PARAM_NUMBER: return v->kind == LB_NUM;
    case LB_PARAM_INT: return lb_is_int(v);
    case LB_PARAM_STRING: return v->kind == LB_STR;
    case LB_PARAM_LIST: return v->kind == LB_LIST;
    case LB_PARAM_MAP: return v->kind == LB_MAP;
    }
    return true;
}

const char *lb_param_type_name(lb_param_type t)
{
    switch (t) {
    case LB_PARAM_ANY: return "any";
    case LB_PARAM_BOOL: return "bool";
    case LB_PARAM_NUMBER: return "number";
    case LB_PARAM_INT: return "integer";
    case LB_PARAM_STRING: return "string";
    case LB_PARAM_LIST: return "list";
    case LB_PARAM_MAP: return "map";
    }
    return "any";
}

/* ---- documentation ------------------------------------------------------------------- */

/* Adds each line of text prefixed by indent. */
static void db_indented(lb_strbuf *b, const char *text, const char *indent)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        if (!line) {
            b->oom = true;
            return;
        }
        if (n)
            lb_sb_add(b, indent);
        lb_sb_add(b, line);
        lb_sb_add(b, "\n");
        free(line);
        p += n + (nl ? 1 : 0);
    }
}

char *lb_command_doc_text(const lb_command *cmd)
{
    lb_strbuf b = {0};
    lb_sb_add(&b, cmd->synopsis ? cmd->synopsis : cmd->name);
    lb_sb_add(&b, "\n\n");
    if (cmd->doc) {
        lb_sb_add(&b, cmd->doc);
        lb_sb_add(&b, "\n");
    }
    if (cmd->params && cmd->params->name) {
        lb_sb_add(&b, "\nParameters:\n");
        for (const lb_param *a = cmd->params; a->name; a++) {
            char head[256];
            snprintf(head, sizeof head, "  %s=%s  (%s)", a->name, a->def ? a->def : "none",
                     lb_param_type_name(a->type));
            lb_sb_add(&b, head);
            if (a->doc) {
                lb_sb_add(&b, "  ");
                lb_sb_add(&b, a->doc);
            }
            lb_sb_add(&b, "\n");
        }
    }
    if (cmd->example) {
        lb_sb_add(&b, "\nExample:\n");
        db_indented(&b, cmd->example, "    ");
    }
    return lb_sb_take(&b);
}

char *lb_command_doc_markdown(const lb_command *cmd)
{
    lb_strbuf b = {0};
    lb_sb_add(&b, "`");
    lb_sb_add(&b, cmd->synopsis ? cmd->synopsis : cmd->name);
    lb_sb_add(&b, "`\n\n");
    if (cmd->doc) {
        lb_sb_add(&b, cmd->doc);
        lb_sb_add(&b, "\n");
    }
    if (cmd->params && cmd->params->name) {
        lb_sb_add(&b, "\n**Parameters**\n\n");
        for (const lb_param *a = cmd->params; a->name; a++) {
            char head[256];
            snprintf(head, sizeof head, "- `%s=%s` (%s)", a->name, a->def ? a->def : "none",
                     lb_param_type_name(a->type));
            lb_sb_add(&b, head);
            if (a->doc) {
                lb_sb_add(&b, ": ");
                lb_sb_add(&b, a->doc);
            }
            lb_sb_add(&b, "\n");
        }
    }
    if (cmd->example) {
        lb_sb_add(&b, "\n**Example**\n\n```\n");
        lb_sb_add(&b, cmd->example);
        lb_sb_add(&b, "\n```\n");
    }
    return lb_sb_take(&b);
}

char *lb_cell_text(const lb_value *v)
{
    return lb_text_cut(v, true, LB_TABLE_CELL_MAX, "\xe2\x80\xa6");
}

int lb_table_set_value(lb_table *t, size_t row, size_t col, const lb_value *v)
{
    char num[48];
    if (v && v->kind == LB_NUM) {
        lb_table_format_number(v->u.num, num, sizeof num);
        return lb_table_set(t, row, col, num, true);
    }
    if (v && v->kind == LB_NONE)
        return lb_table_set(t, row, col, "", false);
    char *r = lb_cell_text(v);
    if (!r)
        return -1;
    int rc = lb_table_set(t, row, col, r, false);
    free(r);
    return rc;
}
