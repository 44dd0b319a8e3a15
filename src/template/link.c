/*
 * The built-in <.link> component [Phoenix.Component.link/1], written the way
 * bennu-tpl would compile it: one block per shape of the tag, whose
 * dynamics read the assigns by their index in bn_link_assigns.
 *
 *   navigate: <a href={@navigate} data-phx-link="redirect" data-phx-link-state={…} {@rest}>…</a>
 *   patch:    <a href={@patch} data-phx-link="patch" data-phx-link-state={…} {@rest}>…</a>
 *   href:     <a href={@href} data-method={…} data-csrf={…} data-to={…} {@rest}>…</a>
 *   none:     <a href="#" {@rest}>…</a>   (no URL, href="#", or a refused URL)
 */
#include <strings.h>

#include "template/template_internal.h"

/* Bits of bn_link_assigns' fields, in declaration order. */
enum { A_HREF, A_NAVIGATE, A_PATCH, A_REPLACE, A_METHOD, A_CSRF, A_TRUSTED, A_REST, A_INNER };
#define BIT(a) bn_tpl_bit(a)

static const bn_str nav_s[] = {BN_STR("<a"), BN_STR(" data-phx-link=\"redirect\""), BN_STR(""), BN_STR(">"),
                               BN_STR("</a>")};
static const bn_tpl_block nav_b = {nav_s, 4, 0x6c6e6176, "<.link navigate>"};

static const bn_str patch_s[] = {BN_STR("<a"), BN_STR(" data-phx-link=\"patch\""), BN_STR(""), BN_STR(">"),
                                 BN_STR("</a>")};
static const bn_tpl_block patch_b = {patch_s, 4, 0x6c706174, "<.link patch>"};

static const bn_str href_s[] = {BN_STR("<a"), BN_STR(""), BN_STR(""), BN_STR(""), BN_STR(""), BN_STR(">"),
                                BN_STR("</a>")};
static const bn_tpl_block href_b = {href_s, 6, 0x6c687266, "<.link href>"};

static const bn_str none_s[] = {BN_STR("<a href=\"#\""), BN_STR(">"), BN_STR("</a>")};
static const bn_tpl_block none_b = {none_s, 2, 0x6c6e6f6e, "<.link>"};

static void rest_and_inner(bn_tpl *t, const bn_tpl_block *b, const bn_link_assigns *a, unsigned first)
{
    if (bn_tpl_dyn(t, BIT(A_REST)))
        bn_tpl_attrs_put(t, a->rest);
    bn_tpl_text(t, b, first);
    if (bn_tpl_dyn(t, BIT(A_INNER)))
        bn_tpl_render_slot(t, &a->inner_block, NULL);
    bn_tpl_text(t, b, first + 1);
}

/* navigate and patch: the same tag but for data-phx-link. */
static void live_link(bn_tpl *t, const bn_tpl_block *b, unsigned url_bit, const char *url, const bn_link_assigns *a)
{
    bn_tpl_open(t, b);
    bn_tpl_text(t, b, 0);
    if (bn_tpl_dyn(t, BIT(url_bit)))
        bn_tpl_attr(t, "href", url);
    bn_tpl_text(t, b, 1);
    if (bn_tpl_dyn(t, BIT(A_REPLACE)))
        bn_tpl_attr(t, "data-phx-link-state", a->replace ? "replace" : "push");
    bn_tpl_text(t, b, 2);
    rest_and_inner(t, b, a, 3);
    bn_tpl_close(t, b);
}

static void href_link(bn_tpl *t, const bn_link_assigns *a)
{
    const bn_tpl_block *b = &href_b;
    bool method = a->method && strcasecmp(a->method, "get") != 0;
    bn_tpl_open(t, b);
    bn_tpl_text(t, b, 0);
    if (bn_tpl_dyn(t, BIT(A_HREF)))
        bn_tpl_attr(t, "href", a->href);
    bn_tpl_text(t, b, 1);
    if (bn_tpl_dyn(t, BIT(A_METHOD)))
        bn_tpl_attr(t, "data-method", method ? a->method : NULL);
    bn_tpl_text(t, b, 2);
    if (bn_tpl_dyn(t, BIT(A_METHOD) | BIT(A_CSRF)))
        bn_tpl_attr(t, "data-csrf", method ? a->csrf_token : NULL);
    bn_tpl_text(t, b, 3);
    if (bn_tpl_dyn(t, BIT(A_METHOD) | BIT(A_HREF)))
        bn_tpl_attr(t, "data-to", method ? a->href : NULL);
    bn_tpl_text(t, b, 4);
    rest_and_inner(t, b, a, 5);
    bn_tpl_close(t, b);
}

static void none_link(bn_tpl *t, const bn_link_assigns *a)
{
    bn_tpl_open(t, &none_b);
    bn_tpl_text(t, &none_b, 0);
    rest_and_inner(t, &none_b, a, 1);
    bn_tpl_close(t, &none_b);
}

void bn_link(bn_tpl *t, const bn_link_assigns *a)
{
    const char *url = a->navigate ? a->navigate : a->patch ? a->patch : a->href;
    bool plain_href = !a->navigate && !a->patch;
    if (!url || (plain_href && strcmp(url, "#") == 0)) {
        none_link(t, a);
        return;
    }
    if (!a->trusted && !bn_tpl_url_is_safe(url, strlen(url))) {
        bn_tpl_fail(t, "unsafe URL scheme in <.link> (javascript:, data: or vbscript:); set trusted to allow it");
        none_link(t, a);
        return;
    }
    if (a->navigate)
        live_link(t, &nav_b, A_NAVIGATE, a->navigate, a);
    else if (a->patch)
        live_link(t, &patch_b, A_PATCH, a->patch, a);
    else
        href_link(t, a);
}
