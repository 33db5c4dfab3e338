// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "dcrond",
    products: [
        .executable(name: "dcrond", targets: ["dcrond"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        // Metrics: swift-metrics' API, exposed in the Prometheus text format; served over HTTP/1 by
        // SwiftNIO alone (Hummingbird would add a router, a lifecycle and more packages on top of it
        // for three fixed paths).
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.2"),
        // The scheduler's queue of next instants (a heap); SwiftNIO depends on it already.
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        // `Errno`: errors keep the system's code, not its message (already a dependency of SwiftNIO).
        .package(url: "https://github.com/apple/swift-system", exact: "1.8.1"),
        // The daemon's lifecycle: its parts as `Service`s in a `ServiceGroup`, graceful shutdown on
        // SIGTERM and SIGINT, SIGHUP through `UnixSignalsSequence`.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
    ],
    targets: [
        // hiredis 0.14 from Debian (`libhiredis-dev`); its headers are in /usr/include/hiredis.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // libsystemd from Debian (`libsystemd-dev`): sd_notify, the watchdog and the journal's native
        // protocol, from the service manager's own library.
        .systemLibrary(
            name: "CSystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // Small C helpers for system calls Swift cannot make (variadic, or needing _GNU_SOURCE).
        .target(name: "CDcrondSystem"),
        // Everything the daemon does: Redis client, schedules, cluster, execution.
        .target(
            name: "DcrondCore",
            dependencies: [
                "CHiredis",
                "CSystemd",
                "CDcrondSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Starts private redis-servers and processes for integration tests and benchmarks.
        .target(
            name: "DcrondTestSupport",
            dependencies: ["DcrondCore", "CDcrondSystem", .product(name: "Logging", package: "swift-log")]
        ),
        // The `dcrond` command: argument parsing and wiring only.
        .executableTarget(
            name: "dcrond",
            dependencies: [
                "DcrondCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Benchmarks that print figures (`make bench`); never timed tests.
        .executableTarget(
            name: "dcrond-bench",
            dependencies: [
                "DcrondCore",
                "DcrondTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `make chaos`: real Redis and real nodes under injected faults, audited.
        .executableTarget(
            name: "dcrond-chaos",
            dependencies: [
                "DcrondTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Runs the job runner in a process of its own, for tests of descriptors, zombies and memory.
        .executableTarget(
            name: "dcrond-test-helper",
            dependencies: ["DcrondCore", "CDcrondSystem", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Helpers/dcrond-test-helper"
        ),
        // libFuzzer targets for the parsers (`make fuzz`); built plainly, it replays a corpus.
        .executableTarget(
            name: "dcrond-fuzz",
            dependencies: ["DcrondCore"],
            path: "Fuzz/dcrond-fuzz"
        ),
        // Unit tests: need nothing but the library.
        .testTarget(
            name: "DcrondCoreTests",
            dependencies: ["DcrondCore"]
        ),
        // Integration tests: start their own redis-server and real processes.
        .testTarget(
            name: "DcrondIntegrationTests",
            dependencies: ["DcrondCore", "DcrondTestSupport"]
        ),
    ]
)
