#ifndef GOCD_PROXY_SYNC_GLIBC_COMPAT_H
#define GOCD_PROXY_SYNC_GLIBC_COMPAT_H
/* Nothing to import: this target only keeps the release binary's symbol-version needs at glibc 2.34 (see
   glibc_compat.c). The header exists because SwiftPM wants one per C target. */
#endif
