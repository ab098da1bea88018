#ifndef HELPLINE_CCURL_SHIM_H
#define HELPLINE_CCURL_SHIM_H
#include <curl/curl.h>
#include <dlfcn.h>

// libcurl is opened on first use (dlopen), not linked. Linked, libcurl and the ~30
// libraries it needs (OpenSSL, GnuTLS, Kerberos, LDAP, ssh2…) are mapped and initialised in
// every helpline process: ~6 MB of the idle daemon's RSS (BENCHMARKS.md, "Agent daemon at
// rest, small"), though the daemon sends nothing between heartbeats and runs those in a
// child process. The headers still give the types and constants; every call goes through
// the table below.

/// The libcurl functions the agent calls, filled by `CCurl_resolve`.
struct CCurl_api {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
};

/// Fills `api` from `lib`, a libcurl opened with dlopen (Curl.swift does, once per process).
/// No state here: a header's inline functions are emitted into every object file that uses
/// them, so a static variable in one would exist once per file.
/// - Returns: NULL when every function was found, else the name of the first one missing.
static inline const char *CCurl_resolve(void *lib, struct CCurl_api *api) {
#define CCURL_RESOLVE(field, symbol)                                   \
    if ((*(void **)&api->field = dlsym(lib, symbol)) == NULL) return symbol;
    CCURL_RESOLVE(global_init, "curl_global_init")
    CCURL_RESOLVE(easy_init, "curl_easy_init")
    CCURL_RESOLVE(easy_cleanup, "curl_easy_cleanup")
    CCURL_RESOLVE(easy_reset, "curl_easy_reset")
    CCURL_RESOLVE(easy_perform, "curl_easy_perform")
    CCURL_RESOLVE(easy_strerror, "curl_easy_strerror")
    CCURL_RESOLVE(slist_append, "curl_slist_append")
    CCURL_RESOLVE(slist_free_all, "curl_slist_free_all")
    CCURL_RESOLVE(easy_setopt, "curl_easy_setopt")
    CCURL_RESOLVE(easy_getinfo, "curl_easy_getinfo")
#undef CCURL_RESOLVE
    return NULL;
}

// Each call through a table CCurl_resolve filled completely.
static inline CURLcode CCurl_global_init(const struct CCurl_api *api, long flags) { return api->global_init(flags); }
static inline CURL *CCurl_easy_init(const struct CCurl_api *api) { return api->easy_init(); }
static inline void CCurl_easy_cleanup(const struct CCurl_api *api, CURL *h) { api->easy_cleanup(h); }
static inline void CCurl_easy_reset(const struct CCurl_api *api, CURL *h) { api->easy_reset(h); }
static inline CURLcode CCurl_easy_perform(const struct CCurl_api *api, CURL *h) { return api->easy_perform(h); }
static inline const char *CCurl_easy_strerror(const struct CCurl_api *api, CURLcode rc) { return api->easy_strerror(rc); }
static inline struct curl_slist *CCurl_slist_append(const struct CCurl_api *api, struct curl_slist *l, const char *s) {
    return api->slist_append(l, s);
}
static inline void CCurl_slist_free_all(const struct CCurl_api *api, struct curl_slist *l) { api->slist_free_all(l); }

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call. One typed
// wrapper per argument kind keeps the call sites type-checked.
static inline CURLcode CCurl_setopt_long(const struct CCurl_api *api, CURL *h, CURLoption o, long v) {
    return api->easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_string(const struct CCurl_api *api, CURL *h, CURLoption o, const char *v) {
    return api->easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_pointer(const struct CCurl_api *api, CURL *h, CURLoption o, void *v) {
    return api->easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_off(const struct CCurl_api *api, CURL *h, CURLoption o, curl_off_t v) {
    return api->easy_setopt(h, o, v);
}
static inline CURLcode CCurl_setopt_slist(const struct CCurl_api *api, CURL *h, CURLoption o, struct curl_slist *v) {
    return api->easy_setopt(h, o, v);
}
typedef size_t (*CCurl_data_callback)(char *, size_t, size_t, void *);
static inline CURLcode CCurl_setopt_data_callback(const struct CCurl_api *api, CURL *h, CURLoption o, CCurl_data_callback cb) {
    return api->easy_setopt(h, o, cb);
}
typedef int (*CCurl_progress_callback)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
static inline CURLcode CCurl_setopt_progress_callback(const struct CCurl_api *api, CURL *h, CURLoption o, CCurl_progress_callback cb) {
    return api->easy_setopt(h, o, cb);
}
static inline CURLcode CCurl_getinfo_long(const struct CCurl_api *api, CURL *h, CURLINFO i, long *v) {
    return api->easy_getinfo(h, i, v);
}
static inline CURLcode CCurl_getinfo_off(const struct CCurl_api *api, CURL *h, CURLINFO i, curl_off_t *v) {
    return api->easy_getinfo(h, i, v);
}
#endif
