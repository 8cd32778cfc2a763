/* Who a request comes from, when the gateway sits behind a reverse proxy
 * or a Kubernetes ingress: then every connection is the proxy's, and the
 * client is in X-Forwarded-For. Only proxies the deployment names are
 * believed (ECM_GATEWAY_TRUSTED_PROXIES: addresses and CIDR blocks); from
 * anyone else the header is ignored, so a client cannot pick the address
 * the sign-in throttle and the audit log see. */
#ifndef GW_CLIENT_H
#define GW_CLIENT_H

#include <stddef.h>

#include "ecm_http.h"

/* At most this many proxies or blocks. */
#define GW_CLIENT_MAX_PROXIES 32

/* Checks a comma-separated list of IPv4/IPv6 addresses and CIDR blocks
 * ("10.0.0.0/8, 192.168.1.10, fd00::/8"; "" for none). Returns 0, or -1
 * with the first bad item named in errstr. */
int gw_client_check(const char *list, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Sets the trusted proxies (list as above) for the process; once, before
 * serving. Returns 0 or -1 (as gw_client_check). */
int gw_client_configure(const char *list, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The client's address into out (46 bytes hold any): the connection's
 * peer, unless that is a trusted proxy with an X-Forwarded-For header:
 * then the right-most address in it that is not a trusted proxy (the
 * left-most if all are). Returns 0, or -1 with out "" when unknown. */
int gw_client_addr(ecm_http_req *req, char *out, size_t out_size)
    __attribute__((warn_unused_result));

#endif
