// swift-tools-version:6.2
import PackageDescription

// Release on Linux: our own functions in sections of their own, so that the symbol-ordering file (below) can move
// them; the static Swift libraries are built that way already.
let functionSections: [SwiftSetting] = [
    .unsafeFlags(["-function-sections"], .when(platforms: [.linux], configuration: .release))
]

let package = Package(
    name: "gocd-proxy-sync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gocd-proxy-sync", targets: ["gocd-proxy-sync"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Metrics: only the CoreMetrics product (the Metrics product imports FoundationEssentials for conveniences
        // this program does not use); swift-prometheus renders the text exposition for node_exporter.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libcurl, found through pkg-config; typed wrappers for its variadic calls live in shim.h.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // libcrypto (libcurl loads it already), for certificate pre-flight checks; wrappers for its macros in shim.h.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Extended attributes, for copying SELinux labels.
        .systemLibrary(name: "CPosixShims"),
        // Pure: validation, planning, rendering, diffing and the sync cycle over protocols.
        .target(
            name: "ProxySyncCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: functionSections
        ),
        // Effects: libcurl, files, processes, systemd, the daemon loop.
        .target(
            name: "ProxySyncSystem",
            dependencies: [
                "ProxySyncCore",
                "CCurl",
                "COpenSSL",
                "CPosixShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: functionSections
        ),
        .executableTarget(
            name: "gocd-proxy-sync",
            dependencies: [
                "ProxySyncCore",
                "ProxySyncSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Release on Linux: lld with packed relative relocations (DT_RELR, glibc >= 2.36, enforced by the
            // GLIBC_ABI_DT_RELR version need): gold's 1 MB .rela.dyn, read whole by ld.so at every start and
            // resident for the daemon's life, becomes 8 KB (-1.0 MiB RSS; Benchmarks/rss_pages.py). PIE and
            // RELRO unchanged. In Package.swift so make release, make deb/rpm and make bench all get it.
            // deploy/symbol-order.txt (Benchmarks/symbol_order.py, from a callgrind run of start-up, idle cycles
            // and an apply) packs the functions that run next to each other: fewer 64 KiB fault-around windows of
            // .text end up resident (-1.2 MiB RSS). Names it lists that no longer exist are ignored silently;
            // SwiftPM does not track the file, so after regenerating it, relink (delete the release binary).
            swiftSettings: functionSections,
            linkerSettings: [
                .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                              "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/deploy/symbol-order.txt",
                              "-Xlinker", "--no-warn-symbol-ordering"],
                             .when(platforms: [.linux], configuration: .release))
            ]
        ),
        // Benchmarks/bench.py drives this to time cycles in one process.
        .executableTarget(
            name: "proxy-sync-bench",
            dependencies: [
                "ProxySyncCore",
                "ProxySyncSystem",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tests/integration/test_parsers_differential.py drives this to compare our TOML and JSON readers with Python's.
        .executableTarget(
            name: "proxy-sync-parse",
            dependencies: ["ProxySyncCore"]
        ),
        .target(
            name: "ProxySyncTestSupport",
            dependencies: ["ProxySyncCore", "ProxySyncSystem"],
            path: "Tests/ProxySyncTestSupport"
        ),
        .testTarget(
            name: "ProxySyncSystemTests",
            dependencies: [
                "ProxySyncSystem", "ProxySyncCore", "ProxySyncTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProxySyncCoreTests",
            dependencies: ["ProxySyncCore", "ProxySyncTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
