/* The type that TodosLive's template (templates/live/todos.html.bnx) shares with main.c. */
#ifndef SHOWCASE_TODOS_H
#define SHOWCASE_TODOS_H

#include <stdbool.h>

#define TODOS_MAX 100   /* items in the shared list */
#define TODO_TEXT_MAX 80 /* bytes of an item's text, without its NUL */

/* One item of the shared todo list: held by value (its text inside), so a view copies the list in one memcpy. */
typedef struct todo_item {
    int id;          /* unique for the process's life: the comprehension's :key */
    char id_text[12]; /* the same in decimal, for phx-value-id (attributes take strings) */
    bool done;
    char text[TODO_TEXT_MAX + 1];
} todo_item;

#endif
