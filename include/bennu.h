/*
 * bennu.h — everything public in Bennu, one include away.
 * Each layer has its own header under bennu/; see docs/ for a guide per layer.
 */
#ifndef BENNU_H
#define BENNU_H

#include "bennu/core.h"
#include "bennu/runtime.h"
#include "bennu/http.h"

#endif
