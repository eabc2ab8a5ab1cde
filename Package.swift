// swift-tools-version:6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "guild",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "guild", targets: ["guild"]),
        .executable(name: "guild-auth", targets: ["guild-auth"]),
        .executable(name: "guild-gateway", targets: ["guild-gateway"]),
        .executable(name: "guild-membership", targets: ["guild-membership"]),
        .executable(name: "guild-content", targets: ["guild-content"]),
        .executable(name: "guild-referral", targets: ["guild-referral"]),
        .library(name: "GuildCore", targets: ["GuildCore"]),
        .library(name: "GuildWire", targets: ["GuildWire"]),
        .library(name: "GuildMessages", targets: ["GuildMessages"]),
        .library(name: "GuildStorage", targets: ["GuildStorage"]),
        .library(name: "GuildSecurity", targets: ["GuildSecurity"]),
        .library(name: "GuildTesting", targets: ["GuildTesting"]),
        .library(name: "GuildWeb", targets: ["GuildWeb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter would build a second RPC stack for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // MARK: Shared
        .target(
            name: "GuildCore",
            dependencies: [
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            path: "Shared/GuildCore",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildMessages",
            dependencies: [
                "GuildCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Shared/GuildMessages",
            exclude: ["Protos"],
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildWire",
            dependencies: [
                "GuildCore",
                "GuildMessages",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            path: "Shared/GuildWire",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildStorage",
            dependencies: [
                "GuildCore", "GuildMessages",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/GuildStorage",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildSecurity",
            dependencies: [
                "GuildCore", "GuildMessages", "GuildWire",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            path: "Shared/GuildSecurity",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildService",
            dependencies: [
                "GuildCore", "GuildWire", "GuildStorage", "GuildMessages",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Shared/GuildService",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildTesting",
            dependencies: [
                "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildAuth", "GuildGateway", "GuildMembership", "GuildContent", "GuildReferral", "GuildService", "GuildSecurity",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Shared/GuildTesting",
            swiftSettings: upcoming
        ),

        // MARK: Services
        .target(
            name: "GuildAuth",
            dependencies: [
                "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildSecurity",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Auth/GuildAuth",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "guild-auth",
            dependencies: [
                "GuildAuth", "GuildCore", "GuildWire", "GuildStorage", "GuildService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Auth/guild-auth",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildMembership",
            dependencies: [
                "GuildCore", "GuildWire", "GuildStorage", "GuildMessages",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Membership/GuildMembership",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "guild-membership",
            dependencies: [
                "GuildMembership", "GuildCore", "GuildService", "GuildWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Membership/guild-membership",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildContent",
            dependencies: [
                "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildSecurity",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Content/GuildContent",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "guild-content",
            dependencies: [
                "GuildContent", "GuildCore", "GuildService", "GuildWire", "GuildSecurity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Content/guild-content",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildReferral",
            dependencies: [
                "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildSecurity",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Referral/GuildReferral",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "guild-referral",
            dependencies: [
                "GuildReferral", "GuildCore", "GuildService", "GuildWire", "GuildSecurity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Referral/guild-referral",
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildGateway",
            dependencies: [
                "GuildCore", "GuildWire", "GuildMessages", "GuildSecurity",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Services/Gateway/GuildGateway",
            resources: [.copy("Resources/openapi.json")],
            swiftSettings: upcoming
        ),
        .target(
            name: "GuildWeb",
            dependencies: [
                "GuildGateway", "GuildCore", "GuildMessages", "GuildSecurity", "GuildWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Services/Gateway/GuildWeb",
            resources: [.copy("Resources/templates"), .copy("Resources/assets"), .copy("Resources/locales")],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "guild-gateway",
            dependencies: [
                "GuildGateway", "GuildWeb", "GuildCore", "GuildWire", "GuildService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Services/Gateway/guild-gateway",
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "guild",
            dependencies: [
                "GuildCore", "GuildWire", "GuildService", "GuildMessages", "GuildStorage",
                "GuildAuth", "GuildMembership", "GuildContent", "GuildReferral",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system", condition: .when(platforms: [.linux])),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Services/CLI/guild",
            swiftSettings: upcoming
        ),

        // MARK: Fuzzing (scripts/fuzz.sh builds it with libFuzzer; a normal build replays inputs)
        .executableTarget(
            name: "guild-wire-fuzz",
            dependencies: [
                "GuildCore", "GuildWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/guild-wire-fuzz",
            swiftSettings: upcoming
        ),

        // MARK: Tests
        .testTarget(
            name: "GuildWireTests",
            dependencies: [
                "GuildWire", "GuildCore", "GuildMessages", "GuildTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildCoreTests",
            dependencies: ["GuildCore"],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildReferralTests",
            dependencies: [
                "GuildReferral", "GuildMembership", "GuildContent", "GuildSecurity", "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildTesting", "GuildService",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildStorageTests",
            dependencies: ["GuildStorage", "GuildCore", "GuildTesting", .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildAuthTests",
            dependencies: [
                "GuildAuth", "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildTesting", "GuildSecurity",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildMembershipTests",
            dependencies: [
                "GuildMembership", "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildTesting", "GuildService",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildContentTests",
            dependencies: [
                "GuildContent", "GuildMembership", "GuildSecurity", "GuildCore", "GuildWire", "GuildStorage", "GuildMessages", "GuildTesting", "GuildService",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildWebTests",
            dependencies: [
                "GuildWeb", "GuildGateway", "GuildCore", "GuildTesting", "GuildMessages", "GuildAuth", "GuildService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "GuildGatewayTests",
            dependencies: [
                "GuildGateway", "GuildAuth", "GuildMembership", "GuildContent", "GuildReferral", "GuildSecurity", "GuildCore", "GuildWire", "GuildTesting", "GuildMessages", "GuildService",
                "GuildStorage",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)
