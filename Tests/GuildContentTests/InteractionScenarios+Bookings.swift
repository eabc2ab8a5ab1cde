import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildService
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent

extension InteractionScenarios {
    static let bookingScenarios: [String: Scenario] = [
        "booking: twenty members race for one slot and exactly one wins": bookingRace,
        "booking: pay, cancel by the policy, complete, notes and rating": bookingLifecycle,
    ]

    static func bookingRace(_ f: ContentFixture) async throws {
        let offering = try await f.consulting(minutes: 60, price: 10_000)
        let members = (1...20).map { UserID(String(format: "racer-%06d", $0)) }
        for member in members { try await f.join(member) }
        let slots = try await f.slots(offering)
        // Thursday 2026-01-01 09:00 in Shanghai is the first free hour.
        #expect(slots.timeZone == "Asia/Shanghai")
        #expect(slots.slots.first?.localStart == "2026-01-01T09:00+08:00")
        #expect(slots.slots.first?.start.date == Date(timeIntervalSince1970: 1_767_229_200))
        let slot = try #require(slots.slots.first).start

        let outcomes = await withTaskGroup(of: Result<ContentBooking, GuildError>.self) { group in
            for member in members {
                group.addTask {
                    do { return .success(try await f.book(offering, at: slot, by: member)) } catch let error as GuildError { return .failure(error) } catch {
                        return .failure(GuildError(.unknown, "\(error)"))
                    }
                }
            }
            var outcomes: [Result<ContentBooking, GuildError>] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let winners = outcomes.compactMap { try? $0.get() }
        let losers = outcomes.compactMap { if case .failure(let error) = $0 { error } else { nil } }
        #expect(winners.count == 1)
        #expect(losers.count == 19)
        #expect(losers.allSatisfy { $0.reason == "slot_taken" }, "\(losers.map(\.description))")
        #expect(try await f.slots(offering).slots.first?.localStart == "2026-01-01T10:00+08:00")

        // A half-hour offering of the same expert cannot overlap the booked hour either.
        let short = try await f.consulting(minutes: 30, price: 5_000, setHours: false)
        let shortSlots = try await f.slots(short).slots.map(\.localStart)
        #expect(!shortSlots.contains("2026-01-01T09:00+08:00") && !shortSlots.contains("2026-01-01T09:30+08:00"))
        #expect(shortSlots.first == "2026-01-01T10:00+08:00")
        #expect(await thrownError { _ = try await f.book(short, at: slot, by: members[1]) }?.reason == "slot_taken")
        // A time that is not a slot is refused.
        #expect(await thrownError { _ = try await f.book(offering, at: Date(timeIntervalSince1970: 1_767_229_200 + 600).timestamp, by: members[2]) }?.code == .invalidArgument)
    }

    static func bookingLifecycle(_ f: ContentFixture) async throws {
        let offering = try await f.consulting(minutes: 60, price: 10_000)
        try await f.join(asker)
        let slots = try await f.slots(offering).slots

        // Unpaid for half an hour: the slot comes back.
        let unpaid = try await f.book(offering, at: slots[0].start, by: asker)
        #expect(unpaid.status == "awaiting_payment" && unpaid.payment.amount.minorUnits == 10_000)
        f.clock.advance(by: 1_801)
        #expect(try await f.content.completeBookings() == 1)
        #expect(try await f.content.booking(ContentGetBookingRequest.with { $0.bookingID = unpaid.id }, user: asker).status == "cancelled")
        #expect(try await f.charge(unpaid.chargeID).status == "cancelled")

        // Paid, then cancelled by the member before the cut-off: refunded in full.
        let later = try await f.slots(offering).slots
        let early = try await f.book(offering, at: later[3].start, by: asker)
        try await f.pay(charge: early.chargeID, by: asker)
        #expect(try await f.content.booking(ContentGetBookingRequest.with { $0.bookingID = early.id }, user: asker).status == "confirmed")
        let cancelled = try await f.content.cancelBooking(ContentCancelBookingRequest.with { $0.bookingID = early.id; $0.reason = "clash" }, user: asker)
        #expect(cancelled.status == "cancelled" && cancelled.refund == "full")
        #expect(try await f.charge(early.chargeID).status == "refunded")
        #expect(await thrownError { _ = try await f.content.cancelBooking(ContentCancelBookingRequest.with { $0.bookingID = early.id }, user: asker) }?.reason == "booking_not_active")

        // Paid, then cancelled by the member inside the cut-off: nothing back, the expert is paid.
        let next = try await f.book(offering, at: later[4].start, by: asker)
        try await f.pay(charge: next.chargeID, by: asker)
        f.clock.set(later[4].start.date.addingTimeInterval(-3_600))
        let late = try await f.content.cancelBooking(ContentCancelBookingRequest.with { $0.bookingID = next.id }, user: asker)
        #expect(late.refund == "none")
        #expect(try await f.charge(next.chargeID).status == "settled")
        #expect(try await f.ledgerBalance("payee_payable:\(f.community.id):\(f.expert)") == -9_500)

        // The expert cancels: always in full.
        let upcoming = try await f.slots(offering).slots
        let byExpert = try await f.book(offering, at: upcoming[2].start, by: asker)
        try await f.pay(charge: byExpert.chargeID, by: asker)
        f.clock.set(upcoming[2].start.date.addingTimeInterval(-600))
        #expect(try await f.content.cancelBooking(ContentCancelBookingRequest.with { $0.bookingID = byExpert.id }, user: f.expert).refund == "full")

        // Held, then the session takes place: completed and paid out; notes; rating.
        let held = try await f.book(offering, at: try await f.slots(offering).slots[1].start, by: asker)
        try await f.pay(charge: held.chargeID, by: asker)
        #expect(await thrownError { _ = try await f.content.writeSessionNotes(ContentWriteSessionNotesRequest.with { $0.bookingID = held.id; $0.markdown = "x" }, user: f.expert) }?.reason == "session_not_started")
        f.clock.set(held.start.date.addingTimeInterval(60))
        #expect(await thrownError { _ = try await f.content.cancelBooking(ContentCancelBookingRequest.with { $0.bookingID = held.id }, user: asker) }?.reason == "session_started")
        let noted = try await f.content.writeSessionNotes(ContentWriteSessionNotesRequest.with { $0.bookingID = held.id; $0.markdown = "Next: read **SE-0306**" }, user: f.expert)
        #expect(noted.notesHtml.contains("<strong>SE-0306</strong>"))
        #expect(await thrownError { _ = try await f.content.rateSession(ContentRateSessionRequest.with { $0.bookingID = held.id; $0.stars = 5 }, user: asker) }?.reason == "session_not_over")
        f.clock.set(held.end.date)
        #expect(try await f.content.completeBookings() == 1)
        #expect(try await f.content.completeBookings() == 0)
        #expect(try await f.charge(held.chargeID).status == "settled")
        #expect(try await f.ledgerBalance("payee_payable:\(f.community.id):\(f.expert)") == -19_000)
        let rated = try await f.content.rateSession(ContentRateSessionRequest.with { $0.bookingID = held.id; $0.stars = 5; $0.review = "Clear" }, user: asker)
        #expect(rated.status == "completed" && rated.rating == 5 && rated.notesHtml.contains("SE-0306"))
        #expect(await thrownError { _ = try await f.content.booking(ContentGetBookingRequest.with { $0.bookingID = held.id }, user: UserID("stranger-0001")) }?.code == .notFound)
        #expect(try await f.membership.checkLedger().violations.isEmpty)

        let mine = try await f.content.bookings(ContentListBookingsRequest.with { $0.communityID = f.community.id; $0.scope = "mine" }, user: asker)
        #expect(mine.bookings.count == 5)
        let topics = try await f.outbox().map(\.0)
        #expect(topics.filter { $0 == "content.booking.booked" }.count == 4)
        #expect(topics.filter { $0 == "content.booking.cancelled" }.count == 3)
        #expect(topics.filter { $0 == "content.booking.completed" }.count == 1)
    }
}

extension ContentFixture {
    /// The guest expert's offering, with weekday hours 09:00–12:00 in Shanghai.
    func consulting(minutes: Int32, price: Int64, setHours: Bool = true) async throws -> ContentOffering {
        if setHours {
            _ = try await content.setAvailability(ContentSetAvailabilityRequest.with {
                $0.communityID = community.id
                $0.timeZone = "Asia/Shanghai"
                $0.windows = (1...5).map { day in ContentAvailabilityWindow.with { $0.weekday = Int32(day); $0.startMinute = 540; $0.endMinute = 720 } }
            }, user: expert)
        }
        return try await content.createOffering(ContentCreateOfferingRequest.with {
            $0.communityID = community.id
            $0.title = "Code review, \(minutes) minutes"
            $0.scope = "One pull request"
            $0.durationMinutes = minutes
            $0.priceMinorUnits = price
            $0.cancelCutoffHours = 24
        }, user: expert)
    }

    func slots(_ offering: ContentOffering) async throws -> ContentSlotList {
        try await content.slots(ContentListSlotsRequest.with { $0.offeringID = offering.id; $0.days = 7 }, user: nil)
    }

    func book(_ offering: ContentOffering, at start: Google_Protobuf_Timestamp, by user: UserID) async throws -> ContentBooking {
        try await content.book(ContentBookRequest.with {
            $0.offeringID = offering.id
            $0.start = start
            $0.idempotencyKey = Identifier.make()
        }, user: user)
    }
}
