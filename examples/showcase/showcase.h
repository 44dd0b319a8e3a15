/* Types the showcase's templates share with its controllers. */
#ifndef SHOWCASE_H
#define SHOWCASE_H

/* One line of the home page's list of demos. */
typedef struct showcase_demo {
    const char *what; /* the route, shown as code */
    const char *href; /* a link to it, or NULL when it needs a POST */
    const char *text;
} showcase_demo;

#endif
