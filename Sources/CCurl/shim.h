#ifndef GOCD_PROXY_SYNC_CCURL_SHIM_H
#define GOCD_PROXY_SYNC_CCURL_SHIM_H

#include <curl/curl.h>

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

static inline CURLcode gps_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode gps_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
