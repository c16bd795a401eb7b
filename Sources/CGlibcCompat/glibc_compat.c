/* The release binary runs on glibc 2.34 (RHEL 9). The static Swift runtime's Glibc overlay (libswiftGlibc.a,
   Glibc.o, kept whole by -export-dynamic) references hypotf, and glibc 2.35 gave hypotf a new default version
   (GLIBC_2.35, a faster implementation with the same results); linked against Debian 12's libm the reference
   would ask for GLIBC_2.35. This hidden definition satisfies that reference inside the binary and forwards to
   the version every glibc has (GLIBC_2.2.5 on x86_64, GLIBC_2.17 on aarch64). Nothing in the program calls
   hypotf; the point is the version need. Tests/package/check-deb.sh and check-rpm.sh fail if a GLIBC_ need
   above 2.34 comes back. */
#include "glibc_compat.h"

#if defined(__linux__)
#include <features.h> /* defines __GLIBC__ */
#endif

#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))

#if defined(__x86_64__)
#define GPS_HYPOTF_BASE "hypotf@GLIBC_2.2.5"
#else
#define GPS_HYPOTF_BASE "hypotf@GLIBC_2.17"
#endif

float gps_hypotf_base(float x, float y);
__asm__(".symver gps_hypotf_base, " GPS_HYPOTF_BASE);

__attribute__((visibility("hidden"))) float hypotf(float x, float y) {
    return gps_hypotf_base(x, y);
}
#endif
