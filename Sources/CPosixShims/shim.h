#ifndef GOCD_PROXY_SYNC_POSIX_SHIM_H
#define GOCD_PROXY_SYNC_POSIX_SHIM_H

/* Declarations the Glibc module does not export: extended attributes (SELinux labels), closefrom for spawn,
   eventfd for the loop thread's doorbell. */
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/eventfd.h>
#include <spawn.h>

/* glibc 2.34+: close every descriptor from `from` up in the child of posix_spawn. Declared here because
   spawn.h hides it behind _GNU_SOURCE/__USE_MISC, which the Glibc module may not define. */
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

/* GNU: names the loop thread (visible in top -H and /proc/PID/task/TID/comm); declared here for the same reason. */
#include <pthread.h>
extern int pthread_setname_np(pthread_t thread, const char *name);

#endif
