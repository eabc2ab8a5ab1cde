import Foundation
import GuildCore
import GuildMessages
import Testing

@testable import GuildReferral

/// Commission arithmetic and the programme's validation, without I/O.
@Suite("Attribution rules")
struct AttributionRulesTests {
    @Test("a commission is the payment times the basis points, rounded down", arguments: [
        (Int64(19_900), Int64(1000), Int64(1990)),
        (19_900, 1500, 2985),
        (15_920, 1000, 1592),
        (99, 1000, 9),
        (9, 1000, 0),
        (19_900, 0, 0),
        (0, 1000, 0),
        (Int64.max / 2, 5000, Int64.max / 2 / 10_000 * 5000),
    ] as [(Int64, Int64, Int64)])
    func amount(_ payment: Int64, _ basisPoints: Int64, _ expected: Int64) {
        #expect(CommissionRules.amount(payment: payment, basisPoints: basisPoints) == expected)
    }

    @Test("a clawback is the refund's share of what was earned, never more than is left", arguments: [
        // amount, clawed back, refund, payment, full, expected
        (Int64(1990), Int64(0), Int64(9950), Int64(19_900), false, Int64(995)),
        (1990, 995, 9950, 19_900, false, 995),
        (1990, 995, 19_900, 19_900, false, 995),
        (1990, 0, 100, 19_900, false, 10),
        (1990, 0, 99, 19_900, false, 9),
        (1990, 0, 1, 19_900, false, 0),
        (1990, 0, 1, 19_900, true, 1990),
        (1990, 1500, 1, 19_900, true, 490),
        (1990, 1990, 9950, 19_900, true, 0),
        (1990, 0, 0, 19_900, false, 0),
        (1990, 0, 9950, 0, false, 0),
    ] as [(Int64, Int64, Int64, Int64, Bool, Int64)])
    func clawback(_ amount: Int64, _ clawedBack: Int64, _ refund: Int64, _ payment: Int64, _ full: Bool, _ expected: Int64) {
        #expect(CommissionRules.clawback(amount: amount, clawedBack: clawedBack, refund: refund, payment: payment, full: full) == expected)
    }

    @Test("a recurring commission's span is calendar months in UTC")
    func months() {
        let first = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        let march1 = Date(timeIntervalSince1970: 1_772_323_200)  // 2026-03-01T00:00:00Z
        #expect(CommissionRules.isWithin(months: 2, of: first, instant: first))
        #expect(CommissionRules.isWithin(months: 2, of: first, instant: march1.addingTimeInterval(-0.001)))
        #expect(!CommissionRules.isWithin(months: 2, of: first, instant: march1))
        #expect(!CommissionRules.isWithin(months: 2, of: first, instant: first.addingTimeInterval(-1)))
        #expect(!CommissionRules.isWithin(months: 0, of: first, instant: first))
    }

    @Test("omitted modes and windows mean the defaults; a zero commission means none")
    func defaults() throws {
        var message = ReferralProgram()
        message.enabled = true
        let program = try AttributionProgram(validating: message, windowDays: 30)
        #expect(program.commissionBP == 0 && !program.paysCommission)
        #expect(program.commissionMode == "first_payment" && program.rewardKind == "none" && program.clawback == "pro_rata")
        #expect(program.attributionWindowDays == 30 && program.burstLimit == 3 && program.burstWindowMinutes == 60 && program.rewardValidDays == 30)
        #expect(AttributionProgram.defaults(windowDays: 14).attributionWindowDays == 14)
        #expect(AttributionProgram.defaults(windowDays: 30).paysCommission)
    }

    @Test("every bad field is named at once")
    func validation() {
        var message = ReferralProgram()
        message.commissionBp = -1
        message.recurringMonths = 3
        message.rewardKind = "amount"
        message.rewardAmountOffMinorUnits = 0
        message.rewardPercentOffBp = 10
        message.rewardValidDays = 400
        message.burstLimit = 1001
        do {
            _ = try AttributionProgram(validating: message, windowDays: 30)
            Issue.record("accepted")
        } catch let error as GuildError {
            #expect(Set(error.fieldViolations.map(\.field)) == [
                "enabled", "commissionBp", "recurringMonths", "rewardAmountOffMinorUnits", "rewardPercentOffBp", "rewardValidDays", "burstLimit",
            ])
        } catch {
            Issue.record("\(error)")
        }
    }
}
