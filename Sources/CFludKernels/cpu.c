#include "CFludKernels.h"

// __builtin_cpu_supports reads CPUID and XCR0 once (the compiler's runtime does
// the OS-support check), so these stay cheap enough to call at start-up.

bool cfludkernels_cpu_has_avx2(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

bool cfludkernels_cpu_has_avx512_gfni(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("gfni");
#else
    return false;
#endif
}
