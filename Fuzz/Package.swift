// swift-tools-version:6.2
// libFuzzer targets, kept out of the main package so a normal build never needs the fuzzer
// runtime. Build and run with ../scripts/fuzz.
import PackageDescription

// Build with: swift build -c release -Xswiftc -sanitize=fuzzer,address (scripts/fuzz does), so the
// code under test is instrumented too, not only these entry points.
let fuzz: [SwiftSetting] = []
let link: [LinkerSetting] = []

let package = Package(
    name: "harness-fuzz",
    dependencies: [.package(name: "proxy-replay-harness", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzLogReader", dependencies: ["FuzzSupport", .product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzHARImport", dependencies: ["FuzzSupport", .product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzGoReplayImport", dependencies: ["FuzzSupport", .product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzPcapCapture", dependencies: ["FuzzSupport", .product(name: "Capture", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzNoiseRules", dependencies: ["FuzzSupport", .product(name: "Diff", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzProxyRequest", dependencies: ["FuzzSupport", .product(name: "Proxy", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzRedaction", dependencies: ["FuzzSupport", .product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
    ]
)
