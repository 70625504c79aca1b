/*
 * Linked into the static stepdownd only (meson -Dstatic=true).
 *
 * libevent_core's evutil.o refers to getaddrinfo, getservbyname and
 * getprotobynumber (for evdns and bufferevent_socket_connect_hostname,
 * which stepdownd never calls).  In a static glibc binary these would load
 * NSS modules from the host's glibc at run time, and the linker warns so,
 * once per symbol.  stepdown never resolves a name: every address, in a
 * policy or a request, is numeric and parsed with inet_pton.  These
 * definitions take the place of glibc's: they resolve nothing, so no NSS
 * code is linked into the static binary.
 */
#include <netdb.h>
#include <stddef.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
        (void)node;
        (void)service;
        (void)hints;
        *res = NULL;
        return EAI_FAIL;
}

/* In glibc's getaddrinfo.o too: defined here so that object is never
 * pulled in beside the definition above. */
void freeaddrinfo(struct addrinfo *ai)
{
        (void)ai;
}

struct servent *getservbyname(const char *name, const char *proto)
{
        (void)name;
        (void)proto;
        return NULL;
}

struct protoent *getprotobynumber(int proto)
{
        (void)proto;
        return NULL;
}
