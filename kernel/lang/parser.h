/* parser.h — parses a cell into statements (assignment, command, bare expression) following
 * the grammar of spec/language.md. Which names are commands is asked of the command table. */
#ifndef LB_PARSER_H
#define LB_PARSER_H

#include <stdbool.h>

#include "lang/ast.h"
#include "base/error.h"

struct lb_commands;

/* Parses a whole cell into an LB_N_BLOCK. cmds may be NULL (no commands). Returns NULL with
 * *err set on a syntax error; *incomplete (optional) is true when the cell merely ended too
 * early (unclosed bracket, unterminated string, trailing backslash). */
lb_node *lb_parse(const char *code, const struct lb_commands *cmds, lb_error *err, bool *incomplete);

/* Parses a single expression (the whole text). */
lb_node *lb_parse_expression(const char *code, lb_error *err);

#endif
