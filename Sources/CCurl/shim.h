#ifndef GOCD_PROXY_SYNC_CCURL_SHIM_H
#define GOCD_PROXY_SYNC_CCURL_SHIM_H

#include <curl/curl.h>
#include <string.h>

/* Typed wrappers: Swift cannot call C variadic functions such as curl_easy_setopt. */

typedef size_t (*gps_write_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode gps_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gps_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gps_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gps_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode gps_setopt_write_callback(CURL *handle, gps_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

/* Only http and https. CURLOPT_PROTOCOLS_STR exists from libcurl 7.85 (Debian 12: 7.88); RHEL 9 (7.76) and
   Ubuntu 22.04 (7.81) answer CURLE_UNKNOWN_OPTION to it, and there the bit mask CURLOPT_PROTOCOLS (deprecated
   since 7.85, still honoured by every libcurl 4) says the same. */
static inline CURLcode gps_setopt_protocols_http(CURL *handle) {
    CURLcode code = CURLE_UNKNOWN_OPTION;
#if LIBCURL_VERSION_NUM >= 0x075500
    code = curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (code == CURLE_UNKNOWN_OPTION) {
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
        code = curl_easy_setopt(handle, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#pragma clang diagnostic pop
    }
    return code;
}

/* Sends a PROXY protocol v1 header (the connection's own addresses) before the request, for listeners that expect
   it (proxy_protocol = true). CURLOPT_HAPROXYPROTOCOL exists from libcurl 7.60; older ones answer
   CURLE_UNKNOWN_OPTION. */
static inline CURLcode gps_setopt_haproxy_protocol(CURL *handle, int on) {
#if LIBCURL_VERSION_NUM >= 0x073C00
    return curl_easy_setopt(handle, CURLOPT_HAPROXYPROTOCOL, (long)(on ? 1 : 0));
#else
    return on ? CURLE_UNKNOWN_OPTION : CURLE_OK;
#endif
}

static inline CURLcode gps_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode gps_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

/* The PEM text of the certificate at `index` of the chain the server presented on this transfer's connection (0: the
   leaf), from its "Cert:" entry of CURLINFO_CERTINFO (needs CURLOPT_CERTINFO = 1 before the transfer; libcurl fills
   it when it makes a new connection, with the OpenSSL backend and those that use its own ASN.1 reader alike);
   NULL when there is none. Not owned: valid until the next transfer on `handle` or its cleanup. */
static inline const char *gps_certinfo_pem(CURL *handle, int index) {
    struct curl_certinfo *info = NULL;
    if (curl_easy_getinfo(handle, CURLINFO_CERTINFO, &info) != CURLE_OK || info == NULL) return NULL;
    if (index < 0 || index >= info->num_of_certs || info->certinfo == NULL) return NULL;
    for (struct curl_slist *entry = info->certinfo[index]; entry != NULL; entry = entry->next) {
        if (entry->data != NULL && strncmp(entry->data, "Cert:", 5) == 0) return entry->data + 5;
    }
    return NULL;
}

#endif
