import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// Consulting bookings (技术咨询). An expert publishes offerings and weekly hours in their time
/// zone; a member books a free slot and pays through a membership charge. Either side may cancel
/// under the offering's policy: the expert always refunds in full, the member in full before the
/// cut-off and not at all after it (the expert is then paid). Once the session's time has passed
/// ``completeBookings()`` pays the expert. Afterwards the expert writes notes and the member rates.
///
/// No double booking: a booking holds its expert's quarter hours as rows of `booked_units`
/// (primary key expert and quarter), written in the booking's transaction, so of two bookings
/// that overlap anywhere only one can commit, on SQLite and PostgreSQL alike.
///
/// Money is moved after the booking's row says what is to happen (`refund` ends in `_pending`
/// until membership confirmed it); ``completeBookings()`` finishes any move a crash interrupted,
/// and membership makes each charge transition once, so none happens twice.
extension ContentService {
    /// Length of the units a booking holds; offerings last a multiple of it.
    static let bookingUnitMinutes = 15
    /// How long a member has to pay for a booking before the slot is given back.
    static let bookingPaymentWindow: TimeInterval = 1_800

    // MARK: Offerings and hours

    public func createOffering(_ request: ContentCreateOfferingRequest, user: UserID) async throws -> ContentOffering {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.offerConsulting, user: user, in: community)
        var violations: [GuildError.FieldViolation] = []
        let title = request.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty || title.count > configuration.maxTitleLength { violations.append(.init(field: "title", description: "1 to \(configuration.maxTitleLength) characters.")) }
        if request.scope.count > 5000 { violations.append(.init(field: "scope", description: "At most 5,000 characters.")) }
        if !(15...480).contains(request.durationMinutes) || request.durationMinutes % Int32(Self.bookingUnitMinutes) != 0 {
            violations.append(.init(field: "durationMinutes", description: "15 to 480, a multiple of 15."))
        }
        if !(0...100_000_000).contains(request.priceMinorUnits) { violations.append(.init(field: "priceMinorUnits", description: "0 to 100000000.")) }
        if !(0...720).contains(request.cancelCutoffHours) { violations.append(.init(field: "cancelCutoffHours", description: "0 to 720.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let currency = try await currency(of: community)
        let now = clock.now()
        let id = Identifier.make(at: now)
        try await database.withConnection { sql in
            try await sql.raw("""
                INSERT INTO offerings (id, community_id, expert_id, title, scope, duration_minutes, price_minor, currency, cancel_cutoff_hours, status, created_at_ms)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: user.rawValue), \(bind: title), \(bind: request.scope),
                        \(bind: Int(request.durationMinutes)), \(bind: request.priceMinorUnits), \(bind: currency), \(bind: Int(request.cancelCutoffHours)),
                        'active', \(bind: now.millisecondsSince1970))
                """).run()
        }
        return try offeringMessage(try await offeringRow(id))
    }

    /// Takes an offering off sale (its expert, or the community's owners); booked sessions stay.
    public func retireOffering(_ request: ContentRetireOfferingRequest, user: UserID) async throws -> ContentOffering {
        let row = try await offeringRow(request.offeringID)
        let standing = try await access.standing(of: user, in: CommunityID(try row.decode(column: "community_id", as: String.self)))
        let isOwner = standing.role.map { Self.owners.contains($0) } ?? false
        guard try row.decode(column: "expert_id", as: String.self) == user.rawValue || isOwner else {
            throw GuildError(.permissionDenied, "Only the expert or the community's owners may retire an offering.", reason: "not_the_expert")
        }
        try await database.withConnection { sql in
            try await sql.raw("UPDATE offerings SET status = 'retired' WHERE id = \(bind: request.offeringID)").run()
        }
        return try offeringMessage(try await offeringRow(request.offeringID))
    }

    /// Offerings on sale in a community (of one expert when named); the expert and staff also see
    /// retired ones.
    public func offerings(_ request: ContentListOfferingsRequest, user: UserID?) async throws -> ContentOfferingList {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT * FROM offerings WHERE community_id = \(bind: community.rawValue)
                  AND (\(bind: request.expertID) = '' OR expert_id = \(bind: request.expertID)) ORDER BY created_at_ms
                """).all()
        }
        var list = ContentOfferingList()
        for row in rows {
            let active = try row.decode(column: "status", as: String.self) == "active"
            let own = try row.decode(column: "expert_id", as: String.self) == user?.rawValue
            if active || own || standing.isStaff { list.offerings.append(try offeringMessage(row)) }
        }
        return list
    }

    /// Sets the caller's weekly hours in their time zone (replacing the previous).
    public func setAvailability(_ request: ContentSetAvailabilityRequest, user: UserID) async throws -> ContentAvailability {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.offerConsulting, user: user, in: community)
        let availability = try Self.availability(timeZone: request.timeZone, windows: request.windows.map {
            WeeklyAvailability.Window(weekday: Int($0.weekday), startMinute: Int($0.startMinute), endMinute: Int($0.endMinute))
        })
        let windows = String(decoding: try JSONEncoder().encode(availability.windows), as: UTF8.self)
        let now = clock.now()
        try await database.transaction { sql in
            try await sql.raw("""
                INSERT INTO availability (community_id, expert_id, time_zone, windows, updated_at_ms)
                VALUES (\(bind: community.rawValue), \(bind: user.rawValue), \(bind: request.timeZone), \(bind: windows), \(bind: now.millisecondsSince1970))
                ON CONFLICT (community_id, expert_id) DO UPDATE SET time_zone = excluded.time_zone, windows = excluded.windows, updated_at_ms = excluded.updated_at_ms
                """).run()
        }
        var message = ContentAvailability()
        message.communityID = community.rawValue
        message.expertID = user.rawValue
        message.timeZone = request.timeZone
        message.windows = request.windows
        return message
    }

    private static func availability(timeZone: String, windows: [WeeklyAvailability.Window]) throws -> WeeklyAvailability {
        guard let zone = TimeZone(identifier: timeZone) else {
            throw GuildError.invalid([.init(field: "timeZone", description: "An IANA time zone, such as Asia/Shanghai.")])
        }
        guard windows.count <= 100 else { throw GuildError.invalid([.init(field: "windows", description: "At most 100 windows.")]) }
        do {
            return try WeeklyAvailability(timeZone: zone, windows: windows)
        } catch let error as AvailabilityError {
            throw GuildError.invalid([.init(field: "windows", description: error.message)])
        }
    }

    /// The expert's hours for an offering's community, nil when they set none.
    private func availability(_ sql: any SQLDatabase, offering: any SQLRow) async throws -> WeeklyAvailability? {
        guard let row = try await sql.raw("""
            SELECT * FROM availability WHERE community_id = \(bind: try offering.decode(column: "community_id", as: String.self))
              AND expert_id = \(bind: try offering.decode(column: "expert_id", as: String.self))
            """).first() else { return nil }
        let windows = try JSONDecoder().decode([WeeklyAvailability.Window].self, from: Data(try row.decode(column: "windows", as: String.self).utf8))
        return try Self.availability(timeZone: try row.decode(column: "time_zone", as: String.self), windows: windows)
    }

    /// The free slots of an offering from `from` (not before now) for `days` days.
    public func slots(_ request: ContentListSlotsRequest, user: UserID?) async throws -> ContentSlotList {
        let offering = try await offeringRow(request.offeringID)
        guard try offering.decode(column: "status", as: String.self) == "active" else {
            throw GuildError(.failedPrecondition, "This offering is retired.", reason: "offering_retired")
        }
        let days = request.days == 0 ? 14 : Int(request.days)
        guard (1...60).contains(days) else { throw GuildError.invalid([.init(field: "days", description: "1 to 60.")]) }
        let now = clock.now()
        let from = max(now, request.hasFrom ? request.from.date : now)
        let to = from.addingTimeInterval(TimeInterval(days) * 86_400)
        let duration = try offering.decode(column: "duration_minutes", as: Int.self)
        let expert = try offering.decode(column: "expert_id", as: String.self)
        let (availability, taken) = try await database.withConnection { sql in
            let availability = try await self.availability(sql, offering: offering)
            let taken = Set(try await sql.raw("""
                SELECT unit_start_ms FROM booked_units WHERE expert_id = \(bind: expert)
                  AND unit_start_ms >= \(bind: from.millisecondsSince1970 - 86_400_000) AND unit_start_ms < \(bind: to.millisecondsSince1970 + 86_400_000)
                """).all().map { try $0.decode(column: "unit_start_ms", as: Int64.self) })
            return (availability, taken)
        }
        var list = ContentSlotList()
        guard let availability else { return list }
        list.timeZone = availability.timeZone.identifier
        let formatter = Self.localFormatter(availability.timeZone)
        for start in availability.slots(durationMinutes: duration, from: from, to: to)
        where Self.units(start: start, minutes: duration).allSatisfy({ !taken.contains($0) }) {
            var slot = ContentSlot()
            slot.start = start.timestamp
            slot.end = start.addingTimeInterval(TimeInterval(duration) * 60).timestamp
            slot.localStart = formatter.string(from: start)
            list.slots.append(slot)
        }
        return list
    }

    private static func localFormatter(_ zone: TimeZone) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mmxxx"
        return formatter
    }

    /// The quarter hours a session from `start` of `minutes` holds (milliseconds since 1970).
    static func units(start: Date, minutes: Int) -> [Int64] {
        let first = start.millisecondsSince1970
        return (0..<(minutes / bookingUnitMinutes)).map { first + Int64($0 * bookingUnitMinutes) * 60_000 }
    }

    // MARK: Booking

    /// Books a slot of an offering. A paid one waits for its payment (the answer carries what to
    /// pay) and holds the slot meanwhile; a free one is confirmed at once. The same key returns
    /// the same booking; another member who takes the slot first gets `slot_taken`.
    public func book(_ request: ContentBookRequest, user: UserID) async throws -> ContentBooking {
        try IdempotencyKeys.validate(request.idempotencyKey)
        guard request.hasStart else { throw GuildError.invalid([.init(field: "start", description: "Required: one of the offering's slots.")]) }
        let offering = try await offeringRow(request.offeringID)
        let community = CommunityID(try offering.decode(column: "community_id", as: String.self))
        try await authorize(InteractionOperation.bookConsulting, user: user, in: community)
        let expert = try offering.decode(column: "expert_id", as: String.self)
        guard expert != user.rawValue else { throw GuildError(.failedPrecondition, "You cannot book yourself.", reason: "self_booking") }
        guard try offering.decode(column: "status", as: String.self) == "active" else {
            throw GuildError(.failedPrecondition, "This offering is retired.", reason: "offering_retired")
        }
        let start = request.start.date
        let duration = try offering.decode(column: "duration_minutes", as: Int.self)
        let now = clock.now()
        let availability = try await database.withConnection { sql in try await self.availability(sql, offering: offering) }
        guard start > now, let availability, availability.isSlot(start, durationMinutes: duration) else {
            throw GuildError.invalid([.init(field: "start", description: "Not one of the offering's slots (list them with its slots).")])
        }
        let price = try offering.decode(column: "price_minor", as: Int64.self)
        let id = try await IdempotencyKeys.run(
            database, scope: "book:\(user)", key: request.idempotencyKey, fingerprint: try request.fingerprint, now: now,
            encode: { Array($0.utf8) }, decode: { String(decoding: $0, as: UTF8.self) }
        ) { sql in
            let id = Identifier.make(at: now)
            let isFree = price == 0
            try await sql.raw("""
                INSERT INTO bookings (id, offering_id, community_id, expert_id, member_id, title, start_ms, end_ms, price_minor, currency, status,
                                      payment_id, checkout_url, cancelled_by, cancel_reason, refund, notes_markdown, notes_html, rating, review,
                                      created_at_ms, updated_at_ms)
                VALUES (\(bind: id), \(bind: request.offeringID), \(bind: community.rawValue), \(bind: expert), \(bind: user.rawValue),
                        \(bind: try offering.decode(column: "title", as: String.self)), \(bind: start.millisecondsSince1970),
                        \(bind: start.addingTimeInterval(TimeInterval(duration) * 60).millisecondsSince1970), \(bind: price),
                        \(bind: try offering.decode(column: "currency", as: String.self)), \(bind: isFree ? "confirmed" : "awaiting_payment"),
                        '', '', '', '', '', '', '', 0, '', \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                """).run()
            for unit in Self.units(start: start, minutes: duration) {
                do {
                    try await sql.raw("""
                        INSERT INTO booked_units (expert_id, unit_start_ms, booking_id) VALUES (\(bind: expert), \(bind: unit), \(bind: id))
                        """).run()
                } catch where Database.isUniqueViolation(error) {
                    throw GuildError(.failedPrecondition, "Someone booked this time a moment ago; pick another slot.", reason: "slot_taken")
                }
            }
            if isFree { try await self.emitBooking(sql, InteractionTopic.bookingBooked, id: id, now: now) }
            return id
        }
        try await ensureCharge(.booking, id: id, payer: user)
        return try await bookingMessage(try await bookingRow(id), user: user)
    }

    /// The payment of a booking arrived (membership's event): it is confirmed.
    func bookingPaid(_ sql: any SQLDatabase, booking id: String, now: Date) async throws {
        let confirmed = try await sql.raw("""
            UPDATE bookings SET status = 'confirmed', updated_at_ms = \(bind: now.millisecondsSince1970)
            WHERE id = \(bind: id) AND status = 'awaiting_payment' RETURNING id
            """).first() != nil
        if confirmed { try await emitBooking(sql, InteractionTopic.bookingBooked, id: id, now: now) }
    }

    /// The payment of a booking never came: the slot is given back.
    func bookingUnpaid(_ sql: any SQLDatabase, booking id: String, now: Date) async throws {
        let cancelled = try await sql.raw("""
            UPDATE bookings SET status = 'cancelled', refund = 'unpaid', cancel_reason = 'not paid in time', updated_at_ms = \(bind: now.millisecondsSince1970)
            WHERE id = \(bind: id) AND status = 'awaiting_payment' RETURNING id
            """).first() != nil
        if cancelled { try await sql.raw("DELETE FROM booked_units WHERE booking_id = \(bind: id)").run() }
    }

    /// Cancels a booking under its offering's policy: the expert (or the community's owners)
    /// refund in full; the member gets everything back before the cut-off and nothing after it
    /// (the expert is then paid). Nobody cancels a session that has started.
    public func cancelBooking(_ request: ContentCancelBookingRequest, user: UserID) async throws -> ContentBooking {
        guard request.reason.count <= 500 else { throw GuildError.invalid([.init(field: "reason", description: "At most 500 characters.")]) }
        let row = try await bookingRow(request.bookingID)
        let standing = try await access.standing(of: user, in: CommunityID(try row.decode(column: "community_id", as: String.self)))
        let isMember = try row.decode(column: "member_id", as: String.self) == user.rawValue
        let isExpert = try row.decode(column: "expert_id", as: String.self) == user.rawValue
        let isOwner = standing.role.map { Self.owners.contains($0) } ?? false
        guard isMember || isExpert || isOwner else { throw GuildError(.notFound, "No such booking.") }
        let now = clock.now()
        let start = Date(millisecondsSince1970: try row.decode(column: "start_ms", as: Int64.self))
        guard now < start else { throw GuildError(.failedPrecondition, "The session has started; it can no longer be cancelled.", reason: "session_started") }
        let status = try row.decode(column: "status", as: String.self)
        let refund: String
        switch status {
        case "awaiting_payment": refund = "unpaid_pending"
        case "confirmed":
            let offering = try await offeringRow(try row.decode(column: "offering_id", as: String.self))
            let cutoff = start.addingTimeInterval(-TimeInterval(try offering.decode(column: "cancel_cutoff_hours", as: Int.self)) * 3600)
            let free = try row.decode(column: "price_minor", as: Int64.self) == 0
            refund = free ? "" : (isExpert || isOwner || now < cutoff) ? "full_pending" : "none_pending"
        default:
            throw GuildError(.failedPrecondition, "A \(status.replacingOccurrences(of: "_", with: " ")) booking cannot be cancelled.", reason: "booking_not_active")
        }
        let cancelled = try await database.transaction { sql in
            let claimed = try await sql.raw("""
                UPDATE bookings SET status = 'cancelled', refund = \(bind: refund), cancelled_by = \(bind: user.rawValue),
                       cancel_reason = \(bind: request.reason), updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: request.bookingID) AND status = \(bind: status) RETURNING id
                """).first() != nil
            guard claimed else { return false }
            try await sql.raw("DELETE FROM booked_units WHERE booking_id = \(bind: request.bookingID)").run()
            try await self.emitBooking(sql, InteractionTopic.bookingCancelled, id: request.bookingID, now: now)
            return true
        }
        guard cancelled else { throw GuildError(.aborted, "The booking changed meanwhile; look at it again.", reason: "booking_changed") }
        try await settleMoney(booking: request.bookingID)
        return try await bookingMessage(try await bookingRow(request.bookingID), user: user)
    }

    /// Carries out the money move a booking's row asks for (`…_pending`): a refund, a payment to
    /// the expert, or calling off an unpaid charge; then records that it is done.
    private func settleMoney(booking id: String) async throws {
        let row = try await bookingRow(id)
        let pending = try row.decode(column: "refund", as: String.self)
        guard pending.hasSuffix("_pending") else { return }
        if let charge = try row.decode(column: "charge_id", as: String?.self) {
            switch pending {
            case "none_pending", "settle_pending": _ = try await settleCharge(charge)
            default: try await refundCharge(charge, reason: "booking cancelled")
            }
        }
        let done = pending == "settle_pending" ? "" : String(pending.dropLast("_pending".count))
        try await database.withConnection { sql in
            try await sql.raw("UPDATE bookings SET refund = \(bind: done) WHERE id = \(bind: id) AND refund = \(bind: pending)").run()
        }
    }

    /// The scheduler's work: sessions whose time has passed are completed and their experts paid;
    /// bookings left unpaid past the payment window give their slot back; money moves a crash
    /// interrupted are finished. Returns how many bookings it changed.
    @discardableResult
    public func completeBookings() async throws -> Int {
        let now = clock.now()
        let ms = now.millisecondsSince1970
        var changed = 0
        let due = try await database.transaction { sql in
            let completed = try await sql.raw("""
                UPDATE bookings SET status = 'completed', refund = CASE WHEN charge_id IS NULL THEN '' ELSE 'settle_pending' END,
                       updated_at_ms = \(bind: ms)
                WHERE status = 'confirmed' AND end_ms <= \(bind: ms) RETURNING id
                """).all().map { try $0.decode(column: "id", as: String.self) }
            for id in completed { try await self.emitBooking(sql, InteractionTopic.bookingCompleted, id: id, now: now) }
            return completed
        }
        changed += due.count
        let unpaid = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT id FROM bookings WHERE status = 'awaiting_payment' AND created_at_ms <= \(bind: ms - Int64(Self.bookingPaymentWindow * 1000))
                """).all().map { try $0.decode(column: "id", as: String.self) }
        }
        for id in unpaid {
            let claimed = try await database.transaction { sql in
                let claimed = try await sql.raw("""
                    UPDATE bookings SET status = 'cancelled', refund = 'unpaid_pending', cancel_reason = 'not paid in time', updated_at_ms = \(bind: ms)
                    WHERE id = \(bind: id) AND status = 'awaiting_payment' RETURNING id
                    """).first() != nil
                if claimed { try await sql.raw("DELETE FROM booked_units WHERE booking_id = \(bind: id)").run() }
                return claimed
            }
            if claimed { changed += 1 }
        }
        let pending = try await database.withConnection { sql in
            try await sql.raw("SELECT id FROM bookings WHERE refund LIKE '%_pending' ORDER BY updated_at_ms LIMIT 200").all()
                .map { try $0.decode(column: "id", as: String.self) }
        }
        let attempts = try await WorkAttempts.states(database, kind: Self.bookingMoney, now: now)
        for id in pending where !attempts.resting.contains(id) {
            do {
                try await settleMoney(booking: id)
                if attempts.failing.contains(id) { try await WorkAttempts.succeeded(database, kind: Self.bookingMoney, id: id) }
            } catch {
                // Bounded: after WorkAttempts.maximumAttempts the booking waits for an operator.
                let (count, isLast) = try await WorkAttempts.failed(database, kind: Self.bookingMoney, id: id, error: error, now: clock.now())
                logger.error(isLast ? "booking's money could not be moved; a dead letter until an operator retries it" : "booking money move failed; retried with backoff",
                             metadata: ["booking": "\(id)", "attempts": "\(count)", "error": "\(error)"])
            }
        }
        return changed
    }

    /// The kind of work a booking's money move is, in ``WorkAttempts``.
    static let bookingMoney = "booking_money"

    // MARK: After the session

    /// The expert's follow-up notes, once the session has started; the member reads them.
    public func writeSessionNotes(_ request: ContentWriteSessionNotesRequest, user: UserID) async throws -> ContentBooking {
        guard request.markdown.utf8.count <= configuration.maxMarkdownBytes else {
            throw GuildError.invalid([.init(field: "markdown", description: "At most \(configuration.maxMarkdownBytes) bytes.")])
        }
        let row = try await bookingRow(request.bookingID)
        guard try row.decode(column: "expert_id", as: String.self) == user.rawValue else {
            throw GuildError(.permissionDenied, "Only the expert writes the session's notes.", reason: "not_the_expert")
        }
        let status = try row.decode(column: "status", as: String.self)
        guard ["confirmed", "completed"].contains(status), clock.now().millisecondsSince1970 >= (try row.decode(column: "start_ms", as: Int64.self)) else {
            throw GuildError(.failedPrecondition, "Notes are written once a booked session has started.", reason: "session_not_started")
        }
        try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE bookings SET notes_markdown = \(bind: request.markdown), notes_html = \(bind: Markdown.html(request.markdown)),
                       updated_at_ms = \(bind: self.clock.now().millisecondsSince1970) WHERE id = \(bind: request.bookingID)
                """).run()
        }
        return try await bookingMessage(try await bookingRow(request.bookingID), user: user)
    }

    /// The member rates a session once it has ended (again to change the rating).
    public func rateSession(_ request: ContentRateSessionRequest, user: UserID) async throws -> ContentBooking {
        var violations: [GuildError.FieldViolation] = []
        if !(1...5).contains(request.stars) { violations.append(.init(field: "stars", description: "1 to 5.")) }
        if request.review.count > 2000 { violations.append(.init(field: "review", description: "At most 2,000 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let row = try await bookingRow(request.bookingID)
        guard try row.decode(column: "member_id", as: String.self) == user.rawValue else {
            throw GuildError(.permissionDenied, "Only the member who booked rates the session.", reason: "not_the_member")
        }
        let status = try row.decode(column: "status", as: String.self)
        guard ["confirmed", "completed"].contains(status), clock.now().millisecondsSince1970 >= (try row.decode(column: "end_ms", as: Int64.self)) else {
            throw GuildError(.failedPrecondition, "A session is rated once it has taken place.", reason: "session_not_over")
        }
        try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE bookings SET rating = \(bind: Int(request.stars)), review = \(bind: request.review),
                       updated_at_ms = \(bind: self.clock.now().millisecondsSince1970) WHERE id = \(bind: request.bookingID)
                """).run()
        }
        return try await bookingMessage(try await bookingRow(request.bookingID), user: user)
    }

    // MARK: Reading

    /// A booking, for its member, its expert and the community's staff.
    public func booking(_ request: ContentGetBookingRequest, user: UserID) async throws -> ContentBooking {
        let row = try await bookingRow(request.bookingID)
        let parties = [try row.decode(column: "member_id", as: String.self), try row.decode(column: "expert_id", as: String.self)]
        if !parties.contains(user.rawValue) {
            let standing = try await access.standing(of: user, in: CommunityID(try row.decode(column: "community_id", as: String.self)))
            guard standing.isStaff else { throw GuildError(.notFound, "No such booking.") }
        }
        return try await bookingMessage(row, user: user)
    }

    /// The caller's bookings in a community: as the member (mine) or as the expert (expert),
    /// by start.
    public func bookings(_ request: ContentListBookingsRequest, user: UserID) async throws -> ContentBookingList {
        let column: String
        switch request.scope.isEmpty ? "mine" : request.scope {
        case "mine": column = "member_id"
        case "expert": column = "expert_id"
        default: throw GuildError.invalid([.init(field: "scope", description: "mine or expert.")])
        }
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT * FROM bookings WHERE community_id = \(bind: request.communityID) AND \(unsafeRaw: column) = \(bind: user.rawValue)
                ORDER BY start_ms LIMIT 500
                """).all()
        }
        var list = ContentBookingList()
        for row in rows { list.bookings.append(try await bookingMessage(row, user: user)) }
        return list
    }

    private func offeringRow(_ id: String) async throws -> any SQLRow {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM offerings WHERE id = \(bind: id)").first() }) else {
            throw GuildError(.notFound, "No such offering.")
        }
        return row
    }

    private func bookingRow(_ id: String) async throws -> any SQLRow {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM bookings WHERE id = \(bind: id)").first() }) else {
            throw GuildError(.notFound, "No such booking.")
        }
        return row
    }

    private func offeringMessage(_ row: any SQLRow) throws -> ContentOffering {
        var offering = ContentOffering()
        offering.id = try row.decode(column: "id", as: String.self)
        offering.communityID = try row.decode(column: "community_id", as: String.self)
        offering.expertID = try row.decode(column: "expert_id", as: String.self)
        offering.title = try row.decode(column: "title", as: String.self)
        offering.scope = try row.decode(column: "scope", as: String.self)
        offering.durationMinutes = Int32(try row.decode(column: "duration_minutes", as: Int.self))
        offering.price = try row.price()
        offering.cancelCutoffHours = Int32(try row.decode(column: "cancel_cutoff_hours", as: Int.self))
        offering.status = try row.decode(column: "status", as: String.self)
        offering.createdAt = try row.timestamp("created_at_ms")
        return offering
    }

    private func bookingMessage(_ row: any SQLRow, user: UserID) async throws -> ContentBooking {
        var booking = ContentBooking()
        booking.id = try row.decode(column: "id", as: String.self)
        booking.offeringID = try row.decode(column: "offering_id", as: String.self)
        booking.communityID = try row.decode(column: "community_id", as: String.self)
        booking.expertID = try row.decode(column: "expert_id", as: String.self)
        booking.memberID = try row.decode(column: "member_id", as: String.self)
        booking.title = try row.decode(column: "title", as: String.self)
        booking.start = try row.timestamp("start_ms")
        booking.end = try row.timestamp("end_ms")
        booking.price = try row.price()
        booking.status = try row.decode(column: "status", as: String.self)
        booking.cancelledBy = try row.decode(column: "cancelled_by", as: String.self)
        booking.cancelReason = try row.decode(column: "cancel_reason", as: String.self)
        let refund = try row.decode(column: "refund", as: String.self)
        booking.refund = refund.hasSuffix("_pending") ? String(refund.dropLast("_pending".count)) : refund
        if booking.refund == "settle" { booking.refund = "" }
        booking.notesHtml = try row.decode(column: "notes_html", as: String.self)
        booking.rating = Int32(try row.decode(column: "rating", as: Int.self))
        booking.review = try row.decode(column: "review", as: String.self)
        booking.chargeID = try row.decode(column: "charge_id", as: String?.self) ?? ""
        booking.createdAt = try row.timestamp("created_at_ms")
        if booking.status == "awaiting_payment", user.rawValue == booking.memberID, let due = try row.paymentDue() { booking.payment = due }
        return booking
    }

    private func emitBooking(_ sql: any SQLDatabase, _ topic: String, id: String, now: Date) async throws {
        guard let row = try await sql.raw("SELECT * FROM bookings WHERE id = \(bind: id)").first() else { return }
        var event = ContentBookingEvent()
        event.bookingID = id
        event.communityID = try row.decode(column: "community_id", as: String.self)
        event.expertID = try row.decode(column: "expert_id", as: String.self)
        event.memberID = try row.decode(column: "member_id", as: String.self)
        event.startMs = try row.decode(column: "start_ms", as: Int64.self)
        event.status = try row.decode(column: "status", as: String.self)
        event.occurredAtMs = now.millisecondsSince1970
        try await emit(sql, topic, event, at: now)
    }
}
