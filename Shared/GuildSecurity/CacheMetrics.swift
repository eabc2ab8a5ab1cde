import CoreMetrics

/// Hits and misses of one cache, as `guild_cache_lookups_total{cache, result="hit"|"miss"}`.
public struct CacheMetrics: Sendable {
    private let hits: Counter
    private let misses: Counter

    public init(cache: String, factory: any MetricsFactory = MetricsSystem.factory) {
        hits = Counter(label: "guild_cache_lookups_total", dimensions: [("cache", cache), ("result", "hit")], factory: factory)
        misses = Counter(label: "guild_cache_lookups_total", dimensions: [("cache", cache), ("result", "miss")], factory: factory)
    }

    public func hit() { hits.increment() }
    public func miss() { misses.increment() }
}
