import ArgumentParser
import Foundation
import GuildCore

/// `guild lottery`: tools for the community lotteries the content service draws.
struct LotteryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lottery",
        abstract: "Check community lotteries.",
        subcommands: [Verify.self]
    )

    /// `guild lottery verify <path>`: recomputes a drawn lottery from its published data and
    /// says whether the published winners are the ones the seed draws (exit status 1 if not).
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify a drawn lottery from the JSON the gateway returns for it (exit status 1 when it does not verify).",
            discussion: """
                Checks that the revealed seed matches the commitment published before entries closed, and \
                recomputes the winners with the \(LotteryDraw.algorithm) draw. scripts/lottery-verify.py is an \
                independent implementation of the same check.
                """
        )

        @Argument(help: "The lottery JSON file, or - for standard input.")
        var path: String

        func run() async throws {
            let document: LotteryDocument
            do {
                let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
                document = try JSONDecoder().decode(LotteryDocument.self, from: data)
            } catch let error as DecodingError {
                print("guild lottery verify: \(path) is not a lottery in JSON: \(Self.describe(error))")
                throw ExitCode.failure
            } catch {
                print("guild lottery verify: cannot read \(path): \(error.localizedDescription)")
                throw ExitCode.failure
            }

            let title = [document.id, document.title].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            if !title.isEmpty { print("lottery:    \(title)") }
            let algorithm = document.algorithm ?? ""
            print("algorithm:  \(algorithm.isEmpty ? "(not stated)" : algorithm)")
            guard algorithm.isEmpty || algorithm == LotteryDraw.algorithm else {
                print("NOT verified: the lottery uses the algorithm \"\(algorithm)\"; this tool checks \(LotteryDraw.algorithm) only")
                throw ExitCode.failure
            }
            let commitment = document.commitment ?? ""
            print("commitment: \(commitment.isEmpty ? "(none)" : commitment)")
            let seedHex = document.seed ?? ""
            guard !seedHex.isEmpty else {
                let status = document.status.map { " (status: \($0))" } ?? ""
                print("NOT verified: the lottery has not been drawn yet\(status): no seed is published, so there is nothing to check.")
                throw ExitCode.failure
            }
            if let seed = LotteryDraw.bytes(hex: seedHex), !seed.isEmpty, LotteryDraw.commitment(toSeed: seed) == commitment.lowercased() {
                print("            OK: matches SHA-256 of the revealed seed")
            } else {
                print("            does NOT match the revealed seed")
            }

            let entrants = document.entrants ?? []
            let prizes = (document.prizes ?? []).map { LotteryDraw.Prize(name: $0.name ?? "", count: $0.count?.value ?? 0) }
            let published = (document.winners ?? []).map {
                LotteryDraw.Winner(prize: $0.prize ?? "", prizeIndex: $0.prizeIndex?.value ?? 0, position: $0.position?.value ?? 0, userID: $0.userId ?? "")
            }
            print("entrants:   \(LotteryDraw.canonicalEntrants(entrants).count) (after removing duplicates)")
            if let seed = LotteryDraw.bytes(hex: seedHex), !seed.isEmpty {
                print("winners recomputed from the seed:")
                let recomputed = LotteryDraw.winners(seed: seed, entrants: entrants, prizes: prizes)
                if recomputed.isEmpty { print("  (none)") }
                for winner in recomputed {
                    print("  #\(winner.position) \(winner.prize) (prize \(winner.prizeIndex)): \(winner.userID)")
                }
            }

            let problems = LotteryDraw.verify(
                seedHex: seedHex, commitment: commitment, entrants: entrants, prizes: prizes, publishedWinners: published
            )
            guard problems.isEmpty else {
                print("NOT verified: \(problems.count) problem(s)")
                for problem in problems { print("  - \(problem)") }
                throw ExitCode.failure
            }
            print("verified")
        }

        private static func describe(_ error: DecodingError) -> String {
            switch error {
            case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
                let at = context.codingPath.map(\.stringValue).joined(separator: ".")
                let reason = (context.underlyingError as? NSError)?.localizedDescription ?? context.debugDescription
                return at.isEmpty ? reason : "\(at): \(context.debugDescription)"
            @unknown default:
                return "\(error)"
            }
        }
    }

    /// A lottery as the gateway returns it: proto3 JSON, lowerCamelCase names, fields at their
    /// default value omitted (so every field is optional), unknown fields ignored.
    struct LotteryDocument: Decodable {
        var id: String?
        var title: String?
        var status: String?
        var algorithm: String?
        var commitment: String?
        var seed: String?
        var prizes: [PrizeDocument]?
        var entrants: [String]?
        var winners: [WinnerDocument]?
    }

    /// A prize in a ``LotteryDocument``.
    struct PrizeDocument: Decodable {
        var name: String?
        var count: JSONInteger?
    }

    /// A winner in a ``LotteryDocument``.
    struct WinnerDocument: Decodable {
        var prize: String?
        var prizeIndex: JSONInteger?
        var position: JSONInteger?
        var userId: String?
    }

    /// A proto3 JSON integer: a number, or a string of digits (how 64-bit integers may be sent).
    struct JSONInteger: Decodable {
        var value: Int

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) {
                value = number
            } else if let text = try? container.decode(String.self), let number = Int(text) {
                value = number
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an integer")
            }
        }
    }
}
