#ifndef GOCD_PROXY_SYNC_COPENSSL_SHIM_H
#define GOCD_PROXY_SYNC_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Typed wrappers for what Swift cannot call: OpenSSL's macros (stacks, OPENSSL_free) and unions. */

/* A password callback that refuses: an encrypted key fails to load instead of prompting on the terminal. */
static inline int gps_refuse_password(char *buffer, int size, int rwflag, void *userdata) {
    (void)buffer;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return -1;
}

/* The first PEM certificate in `bytes`, or NULL. The caller frees it with X509_free. */
static inline X509 *gps_read_certificate(const void *bytes, int length) {
    BIO *bio = BIO_new_mem_buf(bytes, length);
    if (bio == NULL) return NULL;
    X509 *certificate = PEM_read_bio_X509(bio, NULL, gps_refuse_password, NULL);
    BIO_free(bio);
    return certificate;
}

/* The first unencrypted PEM private key in `bytes`, or NULL. The caller frees it with EVP_PKEY_free. */
static inline EVP_PKEY *gps_read_private_key(const void *bytes, int length) {
    BIO *bio = BIO_new_mem_buf(bytes, length);
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, gps_refuse_password, NULL);
    BIO_free(bio);
    return key;
}

/* The subjectAltName extension, or NULL when there is none. The caller frees it with GENERAL_NAMES_free. */
static inline GENERAL_NAMES *gps_subject_alt_names(const X509 *certificate) {
    return (GENERAL_NAMES *)X509_get_ext_d2i(certificate, NID_subject_alt_name, NULL, NULL);
}

static inline int gps_general_names_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

static inline const GENERAL_NAME *gps_general_names_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

/* The dNSName (GEN_DNS) or iPAddress (GEN_IPADD) of `name` when it has that type, else NULL. Not owned. */
static inline const ASN1_STRING *gps_general_name_string(const GENERAL_NAME *name, int type) {
    if (name == NULL || name->type != type) return NULL;
    switch (type) {
    case GEN_DNS: return name->d.dNSName;
    case GEN_IPADD: return name->d.iPAddress;
    default: return NULL;
    }
}

/* Frees memory OpenSSL allocated for the caller, such as ASN1_STRING_to_UTF8's output. */
static inline void gps_openssl_free(void *pointer) {
    OPENSSL_free(pointer);
}

#endif
