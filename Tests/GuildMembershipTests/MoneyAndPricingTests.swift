import Foundation
import GuildCore
import Testing

@testable import GuildMembership

@Suite("Money")
struct MoneyTests {
    @Test("portions round half away from zero; pro-rata scaling rounds down")
    func rounding() {
        let price = Money(minorUnits: 19_900, currency: .cny)
        #expect(price.portion(basisPoints: 500).minorUnits == 995)
        #expect(Money(minorUnits: 10, currency: .cny).portion(basisPoints: 500).minorUnits == 1)  // 0.5 -> 1
        #expect(Money(minorUnits: 9, currency: .cny).portion(basisPoints: 500).minorUnits == 0)   // 0.45 -> 0
        #expect(price.scaled(1, over: 3).minorUnits == 6_633)
        // The product overflows 64 bits; the result does not.
        #expect(Money(minorUnits: 4_000_000_000_000_000_000, currency: .usd).scaled(3, over: 4).minorUnits == 3_000_000_000_000_000_000)
    }

    @Test("amounts print in the currency's notation")
    func description() {
        #expect(Money(minorUnits: 19_900, currency: .cny).description == "199.00 CNY")
        #expect(Money(minorUnits: -5, currency: .usd).description == "-0.05 USD")
        #expect(Money(minorUnits: 1200, currency: Currency(rawValue: "jpy")!).description == "1200 JPY")
        #expect(Money(minorUnits: 1500, currency: Currency(rawValue: "KWD")!).description == "1.500 KWD")
        #expect(Currency(rawValue: "US") == nil)
        #expect(Currency(rawValue: "U$D") == nil)
    }

    @Test("percent labels", arguments: [(Int64(1500), "15%"), (1250, "12.5%"), (5, "0.05%"), (10_000, "100%")])
    func percentText(_ basisPoints: Int64, _ text: String) {
        #expect(Pricing.percentText(basisPoints) == text)
    }
}
