#ifndef C_FLUD_KERNELS_H
#define C_FLUD_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Whether the CPU and the operating system support AVX2 (checked once, by CPUID).
bool cfludkernels_cpu_has_avx2(void);

/// Whether the CPU supports AVX-512 (F, BW, VL) together with GFNI.
bool cfludkernels_cpu_has_avx512_gfni(void);

#endif
