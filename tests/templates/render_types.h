/* Types of the templates compiled into tests/unit/test_template_render.c. */
#ifndef RENDER_TYPES_H
#define RENDER_TYPES_H

#include <bennu/core.h>

typedef struct user {
    bn_list link;
    const char *name;
    int age;
    bool admin;
} user;

/* A list entry whose bn_list member is not called `link`. */
typedef struct item {
    const char *label;
    bn_list node;
} item;

#endif
