/*
 * bennu.h — everything public in Bennu, one include away.
 * Each layer has its own header under bennu/; see docs/ for a guide per layer.
 */
#ifndef BENNU_H
#define BENNU_H

#include "bennu/core.h"
#include "bennu/data.h"
#include "bennu/runtime.h"
#include "bennu/http.h"
#include "bennu/value.h"
#include "bennu/crypto.h"
#include "bennu/cookie.h"
#include "bennu/web.h"
#include "bennu/router.h"
#include "bennu/endpoint.h"
#include "bennu/static.h"
#include "bennu/session.h"
#include "bennu/template.h"
#include "bennu/view.h"
#include "bennu/socket.h"
#include "bennu/pubsub.h"
#include "bennu/live.h"
#include "bennu/testing.h"

#endif
