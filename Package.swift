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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // System C libraries: one module each, found through pkg-config.
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),

        // flud's own C: CPU detection and the SIMD kernels.
        .target(name: "CFludKernels"),

        .target(
            name: "FludCodec",
            dependencies: [
                "CISAL",
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
                "CSodium",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "flud",
            dependencies: [
                "FludCodec",
                "FludStore",
                "FludDHT",
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
                "FludDHT", "FludTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FludCLITests",
            dependencies: ["FludCodec", "FludStore", "FludDHT", "FludTestSupport"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
