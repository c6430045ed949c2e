// swift-tools-version:6.2
// libFuzzer targets, kept out of the main package so a normal build never needs the fuzzer
// runtime. Build and run with ../scripts/fuzz.
import PackageDescription

let fuzz: [SwiftSetting] = [.unsafeFlags(["-parse-as-library", "-sanitize=fuzzer,address"])]
let link: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]

let package = Package(
    name: "harness-fuzz",
    dependencies: [.package(name: "proxy-replay-harness", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzLogReader", dependencies: [.product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzHARImport", dependencies: [.product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(
            name: "FuzzGoReplayImport", dependencies: [.product(name: "HarnessCore", package: "proxy-replay-harness")],
            swiftSettings: fuzz, linkerSettings: link),
    ]
)
