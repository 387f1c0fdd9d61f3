internal import CFludKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine that multiplies a GF(2^8) coefficient matrix by a set of shards:
/// `output[r] = Σ_c coefficient[r][c] · input[c]`, byte by byte.
///
/// Encoding and decoding both reduce to this one operation, so a kernel is all a
/// new SIMD implementation has to provide.
public enum CodecKernel: String, Sendable, CaseIterable, CustomStringConvertible {
    /// flud's own AVX-512 kernel (CFludKernels): GFNI's affine instruction
    /// multiplies 64 bytes by a coefficient at once, for any polynomial.
    case gfni
    /// flud's own AVX2 kernel (CFludKernels): column-blocked so that wide codes
    /// keep their inputs in cache across groups of outputs.
    case avx2
    /// Intel ISA-L's `ec_encode_data`, which picks its own SSE/AVX/AVX2/AVX-512
    /// path; the fallback on every CPU.
    case isal

    public var description: String { rawValue }

    /// Whether this kernel can run on this CPU.
    public var isSupported: Bool {
        switch self {
        case .gfni: cfludkernels_cpu_has_avx512_gfni()
        case .avx2: cfludkernels_cpu_has_avx2()
        case .isal: true
        }
    }

    /// The kernels this CPU can run, fastest first.
    public static var supported: [CodecKernel] {
        allCases.filter(\.isSupported)
    }

    /// The environment variable that forces a kernel (`FLUD_KERNEL=isal`), so tests
    /// and benchmarks can run every kernel on one machine.
    public static let environmentKey = "FLUD_KERNEL"

    /// The kernel flud uses: the one named by `FLUD_KERNEL` if set and supported,
    /// else the fastest one this CPU supports. flud's own kernels are only fast
    /// when their C is optimised, so an unoptimised (debug) build prefers ISA-L.
    public static let `default`: CodecKernel = {
        if let name = getenvString(environmentKey), let forced = CodecKernel(rawValue: name), forced.isSupported {
            return forced
        }
        return supported.first { $0 == .isal || cfludkernels_gf_matmul_optimized() } ?? .isal
    }()
}

private func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

