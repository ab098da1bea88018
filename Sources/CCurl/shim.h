#ifndef HELPLINE_CCURL_SHIM_H
#define HELPLINE_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call. One typed
// wrapper per argument kind keeps the call sites type-checked.
static inline CURLcode CCurl_setopt_long(CURL *h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_string(CURL *h, CURLoption o, const char *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_pointer(CURL *h, CURLoption o, void *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_off(CURL *h, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) {
    return curl_easy_setopt(h, o, v);
}
typedef size_t (*CCurl_data_callback)(char *, size_t, size_t, void *);
static inline CURLcode CCurl_setopt_data_callback(CURL *h, CURLoption o, CCurl_data_callback cb) {
    return curl_easy_setopt(h, o, cb);
}
typedef int (*CCurl_progress_callback)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
static inline CURLcode CCurl_setopt_progress_callback(CURL *h, CURLoption o, CCurl_progress_callback cb) {
    return curl_easy_setopt(h, o, cb);
}
static inline CURLcode CCurl_getinfo_long(CURL *h, CURLINFO i, long *v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLcode CCurl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) {
    return curl_easy_getinfo(h, i, v);
}
#endif
