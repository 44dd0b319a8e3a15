/* The smallest Bennu program: answers every request with "Hello, World!".
 * Run: build/bin/hello, then curl http://localhost:4000/ */
#include <bennu.h>

static void hello(bn_conn *c)
{
    bn_conn_put_resp_header(c, BN_STR("content-type"), BN_STR("text/plain"));
    bn_conn_send_resp(c, 200, BN_STR("Hello, World!"));
}

int main(int argc, char **argv)
{
    (void)argc;
    bn_server_config cfg;
    bn_server_config_defaults(&cfg, argv); /* PORT, BENNU_THREADS, ... */
    cfg.handler = hello;
    return bn_server_run(&cfg);
}
