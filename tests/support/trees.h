/* Test helpers for value trees: compare them as JSON, build expected ones from JSON. */
#ifndef BENNU_TEST_TREES_H
#define BENNU_TEST_TREES_H

#include "bennu/value.h"

/** The compact JSON encoding of `v`, as a C string in `a` (member order kept). */
const char *bt_json(bn_arena *a, const bn_value *v);
/** The tree `json` describes, in `a`; fails the current test if `json` is malformed. */
bn_value *bt_tree(bn_arena *a, const char *json);

#endif
