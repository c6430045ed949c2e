// swift-tools-version:6.2
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

/// The hot-path modules (log codec, capture, proxy, replay, diff): release builds skip the
/// run-time exclusivity checks (`swift_beginAccess` on every class-property access in the
/// per-exchange paths). Debug builds, which the tests run, keep them.
let hotPath: [SwiftSetting] = upcoming + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
    .product(name: "NIOSSL", package: "swift-nio-ssl"),
]

/// Linking the Swift runtime and Foundation statically (release builds of the CLI). lld resolves
/// symbols across archives whatever their order, so Foundation's own dependencies (CoreFoundation,
/// its ICU, dispatch) can simply be listed.
let staticRuntime = [
    "-static-stdlib", "-use-ld=lld",
    "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections",
    "-lFoundationEssentials", "-lFoundationInternationalization", "-lswiftDispatch", "-ldispatch", "-lBlocksRuntime",
]

let package = Package(
    name: "proxy-replay-harness",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "harness", targets: ["harness"]),
        .executable(name: "replay-floor", targets: ["replay-floor"]),
        .library(name: "HarnessCore", targets: ["HarnessCore"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        .library(name: "Replay", targets: ["Replay"]),
        .library(name: "Diff", targets: ["Diff"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
    ],
    targets: [
        // C seams: libpcap, zstd + zlib, and hardware CRC32C.
        .systemLibrary(
            name: "CPcap", path: "Sources/CPcap", pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(
            name: "CCompression", path: "Sources/CCompression", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev", "zlib1g-dev"])]),
        .target(name: "CHarnessSupport", path: "Sources/CHarnessSupport"),

        // The exchange model and the recording log (codec, importers, exporters). Pure logic.
        .target(
            name: "HarnessCore",
            dependencies: [
                "CCompression", "CHarnessSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: hotPath),
        // Off-the-wire capture: pcap decoding, TCP reassembly, HTTP/1.x framing, libpcap source.
        .target(
            name: "Capture",
            dependencies: ["HarnessCore", "CPcap", "CHarnessSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: hotPath),
        // The recording reverse proxy (SwiftNIO).
        .target(name: "Proxy", dependencies: ["HarnessCore", "Capture", .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOEmbedded", package: "swift-nio")] + nio, swiftSettings: hotPath),
        // The diff engine, noise rules, reports and the gate. Pure logic.
        .target(
            name: "Diff",
            dependencies: ["HarnessCore", "CCompression", .product(name: "Yams", package: "Yams")],
            swiftSettings: hotPath),
        // Replay: the client side, the simulated backends, the result log.
        .target(
            name: "Replay",
            dependencies: [
                "HarnessCore", "Diff", "Capture",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ] + nio,
            swiftSettings: hotPath),
        // Shared by the tests: start backends, proxies and replays on ephemeral ports.
        .target(
            name: "HarnessTesting",
            dependencies: ["HarnessCore", "Capture", "Proxy", "Replay", "Diff"] + nio,
            path: "Tests/HarnessTesting",
            swiftSettings: upcoming),
        .executableTarget(
            name: "harness",
            dependencies: [
                "HarnessCore", "Capture", "Proxy", "Replay", "Diff",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + nio,
            swiftSettings: upcoming,
            // Release builds link the Swift runtime, stdlib and Foundation statically: the runtime's
            // entry points (swift_retain, swift_release, ...) are then direct calls, not calls
            // through the PLT, and start-up skips loading and relocating 14 shared libraries
            // (capture of the benchmark pcap: 0.325 -> 0.300 s; start-up 15 -> 10 ms).
            linkerSettings: [.unsafeFlags(staticRuntime, .when(platforms: [.linux], configuration: .release))]),
        // The replay benchmark's transport floor (scripts/bench/replay): fixed requests, no log.
        .executableTarget(
            name: "replay-floor",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/replay-floor",
            swiftSettings: upcoming),

        .testTarget(name: "HarnessCoreTests", dependencies: ["HarnessCore", "HarnessTesting"], swiftSettings: upcoming),
        .testTarget(
            name: "CaptureTests",
            dependencies: [
                "Capture", "HarnessCore", "HarnessTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: upcoming),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "HarnessCore", "Capture", "HarnessTesting"] + nio, swiftSettings: upcoming),
        .testTarget(name: "DiffTests", dependencies: ["Diff", "HarnessCore", "HarnessTesting"], swiftSettings: upcoming),
        .testTarget(
            name: "ReplayTests",
            dependencies: ["Replay", "Diff", "Proxy", "HarnessCore", "HarnessTesting", .product(name: "NIOEmbedded", package: "swift-nio")] + nio,
            swiftSettings: upcoming),
        .testTarget(name: "harnessTests", dependencies: ["HarnessCore", "HarnessTesting", "replay-floor"], swiftSettings: upcoming),
    ]
)
