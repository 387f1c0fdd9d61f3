// swift-tools-version:6.1
// libFuzzer targets for flud's parsers, a nested package so that the main build
// never needs the fuzzer runtime. See ../README.md ("Fuzzing").
import PackageDescription

let package = Package(
    name: "flud-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "flud", path: "..")],
    targets: [
        .executableTarget(
            name: "FludFuzzKRPC",
            dependencies: [.product(name: "FludDHT", package: "flud")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FludFuzzWire",
            dependencies: [.product(name: "FludWire", package: "flud")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
