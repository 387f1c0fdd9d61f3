// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "flud",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flud", targets: ["flud"]),
        .library(name: "FludCodec", targets: ["FludCodec"]),
        .library(name: "FludStore", targets: ["FludStore"]),
        .library(name: "FludDHT", targets: ["FludDHT"]),
        .library(name: "FludWire", targets: ["FludWire"]),
        .library(name: "FludNode", targets: ["FludNode"]),
        .library(name: "FludBackup", targets: ["FludBackup"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // System C libraries: one module each, found through pkg-config.
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // BLAKE3, built from Debian's librust-blake3-dev by scripts/install-blake3.sh (make deps).
        .systemLibrary(name: "CBLAKE3", pkgConfig: "libblake3"),

        // flud's own C: CPU detection and the SIMD kernels.
        .target(name: "CFludKernels"),

        .target(
            name: "FludCodec",
            dependencies: [
                "CISAL",
                "CBLAKE3",
                "CSodium",
                "CFludKernels",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "FludStore",
            dependencies: ["FludCodec", "CLMDB"]
        ),
        .target(
            name: "FludDHT",
            dependencies: [
                "FludCodec",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FludWire",
            dependencies: [
                "FludCodec",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FludNode",
            dependencies: [
                "FludCodec",
                "FludStore",
                "FludDHT",
                "FludWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "FludBackup",
            dependencies: [
                "CZstd",
                "FludCodec",
                "FludStore",
                "FludDHT",
                "FludWire",
                "FludNode",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "flud",
            dependencies: [
                "FludBackup",
                "FludCodec",
                "FludStore",
                "FludDHT",
                "FludWire",
                "FludNode",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        .target(name: "FludTestSupport", path: "Tests/FludTestSupport"),
        .testTarget(
            name: "FludCodecTests",
            dependencies: ["FludCodec", "FludTestSupport", "CISAL", "CSodium", "CLMDB"],
            resources: [.copy("Vectors")]
        ),
        .testTarget(
            name: "FludStoreTests",
            dependencies: ["FludStore", "FludCodec", "FludTestSupport"]
        ),
        // The process FludStoreTests SIGKILLs mid-write.
        .executableTarget(
            name: "flud-store-crash-child",
            dependencies: ["FludStore", "FludCodec", "FludTestSupport"],
            path: "Tests/FludStoreCrashChild"
        ),
        .testTarget(
            name: "FludDHTTests",
            dependencies: [
                "FludCodec", "FludDHT", "FludTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FludWireTests",
            dependencies: ["FludWire", "FludCodec", "FludTestSupport"]
        ),
        .testTarget(
            name: "FludNodeTests",
            dependencies: [
                "FludNode", "FludWire", "FludStore", "FludDHT", "FludCodec", "FludTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "FludBackupTests",
            dependencies: [
                "FludBackup", "FludNode", "FludStore", "FludWire", "FludDHT", "FludCodec", "FludTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FludCLITests",
            dependencies: ["FludCodec", "FludStore", "FludDHT", "FludWire", "FludTestSupport"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
