import Foundation
import GuildCore
import Testing

/// The simulated clock `guild demo` moves: the real time plus the offset in a file, re-read at
/// most every refresh interval, never failing on a bad file.
@Suite("Simulated wall clock")
struct SimulatedWallClockTests {
    let base = ManualWallClock(Date(timeIntervalSince1970: 1_767_225_600))  // 2026-01-01T00:00:00Z

    /// A path in a fresh temporary directory (the file itself is not made).
    func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("guild-clock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("simulated-clock").path
    }

    @Test("a missing or empty file is no offset")
    func missingOrEmpty() throws {
        let path = try temporaryPath()
        let clock = SimulatedWallClock(path: path, refreshInterval: .zero, base: base)
        #expect(clock.now() == Date(timeIntervalSince1970: 1_767_225_600))
        try Data().write(to: URL(fileURLWithPath: path))
        #expect(clock.offsetMilliseconds() == 0)
        #expect(clock.now() == Date(timeIntervalSince1970: 1_767_225_600))
    }

    @Test("the offset moves the time back and forth, to the millisecond")
    func offsets() throws {
        let path = try temporaryPath()
        let clock = SimulatedWallClock(path: path, refreshInterval: .zero, base: base)
        // 182 days back: 182 × 86 400 000 ms.
        try SimulatedWallClock.writeOffset(milliseconds: -15_724_800_000, to: path)
        #expect(clock.offsetMilliseconds() == -15_724_800_000)
        #expect(clock.now() == Date(timeIntervalSince1970: 1_767_225_600 - 15_724_800))
        try SimulatedWallClock.writeOffset(milliseconds: 1_500, to: path)
        #expect(clock.now() == Date(timeIntervalSince1970: 1_767_225_601.5))
        // The base clock still moves underneath.
        base.advance(by: 60)
        #expect(clock.now() == Date(timeIntervalSince1970: 1_767_225_661.5))
        // Text written by hand, with spaces and a newline, is read too.
        try Data(" -2000 \n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(clock.offsetMilliseconds() == -2_000)
    }

    @Test("a file that does not hold an integer keeps the last offset; deleting it goes back to 0")
    func unreadableKeepsLast() throws {
        let path = try temporaryPath()
        let clock = SimulatedWallClock(path: path, refreshInterval: .zero, base: base)
        try SimulatedWallClock.writeOffset(milliseconds: -86_400_000, to: path)
        #expect(clock.offsetMilliseconds() == -86_400_000)
        try Data("-86400 seconds".utf8).write(to: URL(fileURLWithPath: path))
        #expect(clock.offsetMilliseconds() == -86_400_000)
        #expect(SimulatedWallClock.readOffset(at: path) == nil)
        try FileManager.default.removeItem(atPath: path)
        #expect(clock.offsetMilliseconds() == 0)
    }

    @Test("the offset read is reused within the refresh interval")
    func cached() throws {
        let path = try temporaryPath()
        let clock = SimulatedWallClock(path: path, refreshInterval: .seconds(3600), base: base)
        try SimulatedWallClock.writeOffset(milliseconds: 5_000, to: path)
        #expect(clock.offsetMilliseconds() == 5_000)
        try SimulatedWallClock.writeOffset(milliseconds: 9_000, to: path)
        #expect(clock.offsetMilliseconds() == 5_000)
        // A new clock (another process) reads the file afresh.
        #expect(SimulatedWallClock(path: path, refreshInterval: .seconds(3600), base: base).offsetMilliseconds() == 9_000)
    }

    @Test("writing replaces the whole file and makes its directory")
    func writing() throws {
        let path = try temporaryPath() + "-dir/nested/simulated-clock"
        try SimulatedWallClock.writeOffset(milliseconds: -1, to: path)
        try SimulatedWallClock.writeOffset(milliseconds: 0, to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "0\n")
        #expect(SimulatedWallClock.readOffset(at: path) == 0)
    }
}
