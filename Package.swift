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
        // glibc symbol versions: keeps the release binary's needs at GLIBC_2.34 (glibc_compat.c).
        .target(name: "CGlibcCompat"),
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
                "CGlibcCompat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Release on Linux: lld, with deploy/symbol-order.txt (Benchmarks/symbol_order.py, from a callgrind run
            // of start-up, idle cycles and an apply), which packs the functions that run next to each other: fewer
            // 64 KiB fault-around windows of .text end up resident (-1.2 MiB RSS). Names it lists that no longer
            // exist are ignored silently; SwiftPM does not track the file, so after regenerating it, relink (delete
            // the release binary). No packed relative relocations (-z nopack-relative-relocs, stated so that a
            // toolchain whose default changes is overridden): DT_RELR needs glibc >= 2.36 (GLIBC_ABI_DT_RELR), and
            // the binary runs on 2.34 (RHEL 9) and 2.35 (Ubuntu 22.04); that costs ~1 MiB of .rela.dyn, read by
            // ld.so at start (Benchmarks/levers.md). deploy/check-abi.sh checks both on the built binary.
            // In Package.swift so make release, make deb/rpm and make bench all get it. CGlibcCompat keeps the
            // static runtime's one GLIBC_2.35 reference (hypotf) at the old version.
            swiftSettings: functionSections,
            linkerSettings: [
                .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "nopack-relative-relocs",
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
