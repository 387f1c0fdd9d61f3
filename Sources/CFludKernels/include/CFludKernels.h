#ifndef C_FLUD_KERNELS_H
#define C_FLUD_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Whether the CPU and the operating system support AVX2 (checked once, by CPUID).
bool cfludkernels_cpu_has_avx2(void);

/// Whether the CPU supports AVX-512 (F, BW, VL) together with GFNI.
bool cfludkernels_cpu_has_avx512_gfni(void);

/// out[r] = Σ_c coef[r][c]·in[c] over GF(2^8) (polynomial 0x11D), using ISA-L's table
/// layout (ec_init_tables: 32 bytes per coefficient, coefficient (r, c) at 32 * (r * k + c)).
/// Any len ≥ 0, any alignment, 1 ≤ k ≤ 255, 1 ≤ rows ≤ 255; outputs are overwritten (not
/// accumulated) and must not overlap the inputs or each other. No allocation, thread-safe.
/// Requires AVX2 (caller checks cfludkernels_cpu_has_avx2()); on non-x86 it runs the scalar path.
void cfludkernels_avx2_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs);

/// Same operation and contract as cfludkernels_avx2_gf_matmul, in portable scalar C (slow;
/// a reference and a fallback for CPUs without AVX2).
void cfludkernels_scalar_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                   const uint8_t *const *inputs, uint8_t *const *outputs);

/// The GFNI kernel's tables: for each of the rows × k coefficients (row-major, coefficient
/// (r, c) at r * k + c), the 8×8 bit matrix that multiplies by it (polynomial 0x11D), as
/// vgf2p8affineqb takes it. `tables` holds rows * k entries.
void cfludkernels_gfni_tables(int k, int rows, const uint8_t *coefficients, uint64_t *tables);

/// Same operation and contract as cfludkernels_avx2_gf_matmul, with AVX-512 and GFNI, from the
/// tables of cfludkernels_gfni_tables. Requires cfludkernels_cpu_has_avx512_gfni().
void cfludkernels_gfni_gf_matmul(size_t len, int k, int rows, const uint64_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs);

/// Whether rs_avx2.c was compiled with optimization (__OPTIMIZE__, i.e. -O1 and up). At -O0
/// (SwiftPM debug builds) the AVX2 kernel is correct but 20x (gcc) to 100x (clang) slower than
/// ISA-L: prefer ISA-L when this returns false.
bool cfludkernels_gf_matmul_optimized(void);

#endif
