// swift-tools-version:6.1
// flud's benchmarks, a nested package so the main build does not pay for them.
// Run from this folder: `swift package benchmark` (see ../README.md).
import PackageDescription

let package = Package(
    name: "flud-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "flud", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // libsodium, only to compare its BLAKE2b with the content hash flud chose.
        .systemLibrary(name: "CBenchSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FludCodec", package: "flud"),
                .product(name: "Crypto", package: "swift-crypto"),
                "CBenchSodium",
            ],
            path: "Benchmarks/CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
