#ifndef GOCD_PROXY_SYNC_POSIX_SHIM_H
#define GOCD_PROXY_SYNC_POSIX_SHIM_H

/* Declarations the Glibc module does not export: extended attributes (SELinux labels). */
#include <sys/types.h>
#include <sys/xattr.h>

#endif
