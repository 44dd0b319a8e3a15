/* Types used by the golden templates (tests/unit/test_template_compiler.c). */
#ifndef GOLDEN_TYPES_H
#define GOLDEN_TYPES_H

#include <bennu/core.h>

typedef struct user {
    bn_list link;
    const char *name;
    int age;
    bool admin;
} user;

typedef struct tag {
    const char *name;
    bn_list node;
} tag;

#endif
