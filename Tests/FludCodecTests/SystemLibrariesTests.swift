import CISAL
import CLMDB
import CSodium
import Testing

/// The C modules resolve to the real system libraries and link.
struct SystemLibrariesTests {
    @Test func isalComputesAProductInGF256() {
        // Under the field polynomial 0x11D, 2 · 0x80 wraps to 0x1D.
        #expect(gf_mul(2, 0x80) == 0x1D)
        #expect(gf_inv(1) == 1)
    }

    @Test func libsodiumInitialises() {
        #expect(sodium_init() >= 0)
        #expect(String(cString: sodium_version_string()).hasPrefix("1."))
    }

    @Test func lmdbReportsVersion() {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        _ = mdb_version(&major, &minor, &patch)
        #expect(major == 0 && minor >= 9)
    }
}
