import Crypto
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// Live sessions and events (直播 / 线上线下活动). The owner, co-owners and guest experts schedule
/// a live session (a join URL of whatever streaming tool they use), an online event, or an event
/// at a place; each may hold a limited number of places with a waiting list behind them.
///
/// Access is that of content items: `public` (any signed-in user may attend), `members` (any
/// role in the community), `plans` (staff, or holders of one of the named plans). Every event is
/// listed to everybody; its join URL only reaches those who may attend and are going (or staff),
/// and for live sessions only from ``eventJoinLeadMs`` before the start until the end.
///
/// An RSVP is `going`, `waitlisted` or `cancelled`. Each change of RSVPs runs in one transaction
/// that first locks the event's row, so two members taking the last place at the same moment
/// cannot both be going, and a place given back goes to the first on the waiting list
/// (by the moment they queued, then user id) in the same transaction.
extension ContentService {
    /// How long before the start a live session opens: its join URL is shown and joining is
    /// allowed (for every kind of event, joining opens then).
    static let eventJoinLeadMs: Int64 = 15 * 60_000
    /// Minutes before the start at which reminders are written, once each per event.
    public static let eventReminderLeads: [Int] = [1440, 60]
    /// How long past its end an event stays in a member's calendar.
    static let calendarKeepsEndedMs: Int64 = 30 * 86_400_000
    static let eventKinds: Set<String> = ["live", "online", "offline"]
    /// The access modes of items that fit an event (an event has no free part to preview).
    static let eventAccessModes: Set<String> = Set([AccessMode.public, .members, .plans].map(\.rawValue))

    // MARK: Creating

    /// Schedules an event (owners, co-owners, guest experts). The description is Markdown,
    /// stored rendered; the time zone defaults to the community's; live sessions and online
    /// events need an http(s) join URL, events at a place a location.
    public func createEvent(_ request: ContentCreateEventRequest, user: UserID) async throws -> ContentEvent {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.hostEvents, user: user, in: community)
        let now = clock.now()
        var violations: [GuildError.FieldViolation] = []
        let kind = request.kind
        if !Self.eventKinds.contains(kind) { violations.append(.init(field: "kind", description: "live, online or offline.")) }
        let title = request.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty || title.count > 200 { violations.append(.init(field: "title", description: "1 to 200 characters.")) }
        if request.description_p.utf8.count > 20_000 { violations.append(.init(field: "description", description: "At most 20,000 bytes.")) }
        if !request.hasStart || request.start.date <= now { violations.append(.init(field: "start", description: "A moment in the future.")) }
        if !(5...1440).contains(request.durationMinutes) { violations.append(.init(field: "durationMinutes", description: "5 to 1440 minutes.")) }
        if !request.timeZone.isEmpty, TimeZone(identifier: request.timeZone) == nil {
            violations.append(.init(field: "timeZone", description: "An IANA time zone, such as Asia/Shanghai."))
        }
        let joinURL = request.joinURL.trimmingCharacters(in: .whitespacesAndNewlines)
        if joinURL.isEmpty ? kind != "offline" : !Self.isWebURL(joinURL) {
            violations.append(.init(field: "joinUrl", description: "An http or https URL of at most 2,000 characters\(kind == "offline" ? "" : ", required for live sessions and online events")."))
        }
        let location = request.location.trimmingCharacters(in: .whitespacesAndNewlines)
        if location.count > 500 || location.contains(where: \.isNewline) {
            violations.append(.init(field: "location", description: "One line of at most 500 characters."))
        } else if location.isEmpty, kind == "offline" {
            violations.append(.init(field: "location", description: "Where the event takes place."))
        }
        if request.capacity < 0 { violations.append(.init(field: "capacity", description: "0 (no limit) or more.")) }
        let accessMode = request.accessMode.isEmpty ? "members" : request.accessMode
        if !Self.eventAccessModes.contains(accessMode) { violations.append(.init(field: "accessMode", description: "public, members or plans.")) }
        var requestedPlans: [String] = []
        if accessMode == "plans" { for plan in request.accessPlans where !requestedPlans.contains(plan) { requestedPlans.append(plan) } }
        let plans = requestedPlans
        if accessMode == "plans", plans.isEmpty || plans.count > 50 || plans.contains(where: { $0.isEmpty || $0.count > 100 || $0.contains(where: \.isNewline) }) {
            violations.append(.init(field: "accessPlans", description: "Name the plans (1 to 50) whose holders may attend."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let id = Identifier.make(at: now)
        try await database.transaction { sql in
            let timeZone = request.timeZone.isEmpty ? try await self.settings(sql, community: community).timeZone : request.timeZone
            try await sql.raw("""
                INSERT INTO events (id, community_id, kind, title, description_html, start_ms, duration_minutes, time_zone, join_url, location,
                                    capacity, access_mode, access_plans, status, replay_item_id, replay_attachment_id, created_by,
                                    created_at_ms, updated_at_ms)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: kind), \(bind: title), \(bind: Markdown.html(request.description_p)),
                        \(bind: request.start.date.millisecondsSince1970), \(bind: Int(request.durationMinutes)), \(bind: timeZone), \(bind: joinURL),
                        \(bind: location), \(bind: Int(request.capacity)), \(bind: accessMode), \(bind: ItemRecord.text(plans)), 'scheduled', '', '',
                        \(bind: user.rawValue), \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                """).run()
        }
        return try await event(id, user: user)
    }

    /// Whether `text` is an absolute http(s) URL with a host, of at most 2,000 characters and
    /// without spaces or control characters.
    static func isWebURL(_ text: String) -> Bool {
        guard text.count <= 2000, !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }),
              let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return false }
        return true
    }

    // MARK: Reading

    /// One event, for anybody (visitors included), with its places taken, the caller's RSVP,
    /// and its join URL only when the caller may have it.
    public func event(_ request: ContentGetEventRequest, user: UserID?) async throws -> ContentEvent {
        try await event(request.eventID, user: user)
    }

    func event(_ id: String, user: UserID?) async throws -> ContentEvent {
        let record = try await eventRecord(id)
        guard let message = try await eventMessages([record], user: user).first else { throw Self.noSuchEvent }
        return message
    }

    /// A community's events: upcoming (not yet ended) soonest first, or past (`past`) latest
    /// first; at most 100.
    public func events(_ request: ContentListEventsRequest, user: UserID?) async throws -> ContentEventList {
        let now = clock.now().millisecondsSince1970
        let rows = try await database.withConnection { sql in
            if request.past {
                try await sql.raw("""
                    SELECT * FROM events WHERE community_id = \(bind: request.communityID) AND \(unsafeRaw: Self.eventEndSQL()) <= \(bind: now)
                    ORDER BY start_ms DESC, id DESC LIMIT 100
                    """).all()
            } else {
                try await sql.raw("""
                    SELECT * FROM events WHERE community_id = \(bind: request.communityID) AND \(unsafeRaw: Self.eventEndSQL()) > \(bind: now)
                    ORDER BY start_ms, id LIMIT 100
                    """).all()
            }
        }
        var list = ContentEventList()
        list.events = try await eventMessages(try rows.map(EventRecord.init(row:)), user: user)
        return list
    }

    // MARK: RSVPs

    /// Takes a place for the caller: going while places are left (or without a limit), on the
    /// waiting list when full. Asking again while going or waiting changes nothing. Refused for
    /// those the event's access leaves out, and for cancelled or ended events.
    public func rsvp(_ request: ContentRsvpRequest, user: UserID) async throws -> ContentEvent {
        let record = try await eventRecord(request.eventID)
        let standing = try await access.standing(of: user, in: record.communityID)
        guard record.canAttend(user: user, standing: standing) else { throw Self.attendanceRefused(record) }
        let now = clock.now()
        try await database.transaction { sql in
            let event = try await self.lockEvent(sql, record.id)
            try Self.requireOpen(event, now: now)
            let existing = try await sql.raw("""
                SELECT status FROM rsvps WHERE event_id = \(bind: event.id) AND user_id = \(bind: user.rawValue)
                """).first()?.decode(column: "status", as: String.self)
            if existing == "going" || existing == "waitlisted" { return }
            let going = try await self.goingCount(sql, event.id)
            let status = event.capacity == 0 || going < event.capacity ? "going" : "waitlisted"
            if existing == nil {
                try await sql.raw("""
                    INSERT INTO rsvps (event_id, user_id, status, queued_at_ms, updated_at_ms)
                    VALUES (\(bind: event.id), \(bind: user.rawValue), \(bind: status), \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                    """).run()
            } else {
                try await sql.raw("""
                    UPDATE rsvps SET status = \(bind: status), queued_at_ms = \(bind: now.millisecondsSince1970), updated_at_ms = \(bind: now.millisecondsSince1970)
                    WHERE event_id = \(bind: event.id) AND user_id = \(bind: user.rawValue)
                    """).run()
            }
            try await self.emitEvent(sql, InteractionTopic.eventRsvp, event, user: user.rawValue, now: now)
        }
        return try await event(record.id, user: user)
    }

    /// Gives the caller's place (or their place on the waiting list) back. A place given back
    /// goes at once to the first on the waiting list. Cancelling again changes nothing.
    public func cancelRsvp(_ request: ContentCancelRsvpRequest, user: UserID) async throws -> ContentEvent {
        let record = try await eventRecord(request.eventID)
        let now = clock.now()
        try await database.transaction { sql in
            let event = try await self.lockEvent(sql, record.id)
            let previous = try await sql.raw("""
                SELECT status FROM rsvps WHERE event_id = \(bind: event.id) AND user_id = \(bind: user.rawValue)
                """).first()?.decode(column: "status", as: String.self)
            guard previous == "going" || previous == "waitlisted" else { return }
            try await sql.raw("""
                UPDATE rsvps SET status = 'cancelled', updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE event_id = \(bind: event.id) AND user_id = \(bind: user.rawValue)
                """).run()
            if previous == "going" { try await self.promote(sql, event, now: now) }
        }
        return try await event(record.id, user: user)
    }

    /// Moves the first on the waiting list to going while places are free, each with a
    /// `content.event.promoted` event; nothing once the event is cancelled or over.
    private func promote(_ sql: any SQLDatabase, _ event: EventRecord, now: Date) async throws {
        guard event.status == "scheduled", event.endMs > now.millisecondsSince1970 else { return }
        var going = try await goingCount(sql, event.id)
        while event.capacity == 0 || going < event.capacity {
            guard let next = try await sql.raw("""
                SELECT user_id FROM rsvps WHERE event_id = \(bind: event.id) AND status = 'waitlisted' ORDER BY queued_at_ms, user_id LIMIT 1
                """).first()?.decode(column: "user_id", as: String.self) else { return }
            try await sql.raw("""
                UPDATE rsvps SET status = 'going', updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE event_id = \(bind: event.id) AND user_id = \(bind: next) AND status = 'waitlisted'
                """).run()
            try await emitEvent(sql, InteractionTopic.eventPromoted, event, user: next, now: now)
            going += 1
        }
    }

    // MARK: Managing

    /// Cancels a scheduled event (its creator, or the owners): no new RSVPs, and calendars show
    /// it cancelled. The reason (at most 500 characters) goes to the community's audit log.
    /// Cancelling a cancelled event changes nothing; an event that has ended cannot be.
    public func cancelEvent(_ request: ContentCancelEventRequest, user: UserID) async throws -> ContentEvent {
        let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard reason.count <= 500 else { throw GuildError.invalid([.init(field: "reason", description: "At most 500 characters.")]) }
        let record = try await eventRecord(request.eventID)
        try await authorizeManaging(record, user: user)
        let now = clock.now()
        try await database.transaction { sql in
            let event = try await self.lockEvent(sql, record.id)
            guard event.status == "scheduled" else { return }
            guard event.endMs > now.millisecondsSince1970 else {
                throw GuildError(.failedPrecondition, "The event is over.", reason: "event_ended")
            }
            try await sql.raw("""
                UPDATE events SET status = 'cancelled', updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: event.id) AND status = 'scheduled'
                """).run()
            try await self.audit(sql, community: event.communityID, actor: user, action: "cancel_event", targetKind: "event",
                                 targetID: event.id, reason: reason, now: now)
        }
        return try await event(record.id, user: user)
    }

    /// Attaches a replay after the start (its creator, or the owners): a post or course of the
    /// same community (`itemId`), or an attachment of one (`attachmentId`). A new replay
    /// replaces the one before.
    public func attachReplay(_ request: ContentAttachReplayRequest, user: UserID) async throws -> ContentEvent {
        guard request.itemID.isEmpty != request.attachmentID.isEmpty else {
            throw GuildError.invalid([.init(field: request.itemID.isEmpty ? "itemId" : "attachmentId", description: "Give either an item or an attachment.")])
        }
        let record = try await eventRecord(request.eventID)
        try await authorizeManaging(record, user: user)
        let now = clock.now()
        guard now.millisecondsSince1970 >= record.startMs else {
            throw GuildError(.failedPrecondition, "A replay is attached after the start.", reason: "not_started")
        }
        guard record.status == "scheduled" else {
            throw GuildError(.failedPrecondition, "The event was cancelled.", reason: "event_cancelled")
        }
        try await database.transaction { sql in
            let owner: String?
            if !request.itemID.isEmpty {
                owner = try await sql.raw("""
                    SELECT community_id FROM items WHERE id = \(bind: request.itemID) AND deleted_at_ms IS NULL
                    """).first()?.decode(column: "community_id", as: String.self)
            } else {
                owner = try await sql.raw("""
                    SELECT i.community_id AS community_id FROM attachments a JOIN items i ON i.id = a.item_id
                    WHERE a.id = \(bind: request.attachmentID) AND i.deleted_at_ms IS NULL
                    """).first()?.decode(column: "community_id", as: String.self)
            }
            guard owner == record.communityID.rawValue else {
                let field = request.itemID.isEmpty ? "attachmentId" : "itemId"
                throw GuildError.invalid([.init(field: field, description: request.itemID.isEmpty ? "An attachment of a post of this community." : "A post or course of this community.")])
            }
            try await sql.raw("""
                UPDATE events SET replay_item_id = \(bind: request.itemID), replay_attachment_id = \(bind: request.attachmentID),
                       updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: record.id)
                """).run()
        }
        return try await event(record.id, user: user)
    }

    /// The caller joins: allowed to those who may attend and are going (or staff), from
    /// ``eventJoinLeadMs`` before the start until the end. The first join of someone going is
    /// recorded as attendance, with one `content.event.attended` event. The answer carries the
    /// join URL.
    public func joinEvent(_ request: ContentJoinEventRequest, user: UserID) async throws -> ContentEvent {
        let record = try await eventRecord(request.eventID)
        let standing = try await access.standing(of: user, in: record.communityID)
        guard record.canAttend(user: user, standing: standing) else { throw Self.attendanceRefused(record) }
        guard record.status == "scheduled" else {
            throw GuildError(.failedPrecondition, "The event was cancelled.", reason: "event_cancelled")
        }
        let now = clock.now()
        let ms = now.millisecondsSince1970
        guard ms >= record.startMs - Self.eventJoinLeadMs else {
            throw GuildError(.failedPrecondition, "Joining opens 15 minutes before the start.", reason: "not_started")
        }
        guard ms <= record.endMs else { throw GuildError(.failedPrecondition, "The event is over.", reason: "event_ended") }
        try await database.transaction { sql in
            let status = try await sql.raw("""
                SELECT status FROM rsvps WHERE event_id = \(bind: record.id) AND user_id = \(bind: user.rawValue)
                """).first()?.decode(column: "status", as: String.self)
            guard status == "going" || standing.isStaff else {
                throw GuildError(.failedPrecondition, "RSVP and get a place to join.", reason: "rsvp_required")
            }
            let first = try await sql.raw("""
                UPDATE rsvps SET attended_at_ms = \(bind: ms), updated_at_ms = \(bind: ms)
                WHERE event_id = \(bind: record.id) AND user_id = \(bind: user.rawValue) AND status = 'going' AND attended_at_ms IS NULL
                RETURNING user_id
                """).first() != nil
            if first { try await self.emitEvent(sql, InteractionTopic.eventAttended, record, user: user.rawValue, now: now) }
        }
        return try await event(record.id, user: user)
    }

    // MARK: Reminders

    /// Writes reminders for events about to start: for each lead time of
    /// ``eventReminderLeads`` whose moment has come (an event scheduled closer than a lead time
    /// gets that reminder at once), one `content.event.reminder` per attendee going, once per
    /// event and lead time however often this runs (the record in `event_reminders` and the
    /// events are written in one transaction), and never after the start. The scheduler's work;
    /// returns how many reminder events it wrote.
    @discardableResult
    public func sendEventReminders() async throws -> Int {
        var written = 0
        for lead in Self.eventReminderLeads {
            let now = clock.now()
            let ms = now.millisecondsSince1970
            let due = try await database.withConnection { sql in
                try await sql.raw("""
                    SELECT id FROM events e
                    WHERE status = 'scheduled' AND start_ms > \(bind: ms) AND start_ms <= \(bind: ms + Int64(lead) * 60_000)
                      AND NOT EXISTS (SELECT 1 FROM event_reminders r WHERE r.event_id = e.id AND r.lead_minutes = \(bind: lead))
                    ORDER BY start_ms LIMIT 200
                    """).all().map { try $0.decode(column: "id", as: String.self) }
            }
            for id in due {
                do {
                    written += try await database.transaction { sql in
                        guard let row = try await sql.raw("""
                            SELECT * FROM events WHERE id = \(bind: id) AND status = 'scheduled' AND start_ms > \(bind: ms)
                            """).first() else { return 0 }
                        let event = try EventRecord(row: row)
                        let recorded = try await sql.raw("""
                            INSERT INTO event_reminders (event_id, lead_minutes, sent_at_ms) VALUES (\(bind: id), \(bind: lead), \(bind: ms))
                            ON CONFLICT (event_id, lead_minutes) DO NOTHING RETURNING event_id
                            """).first() != nil
                        guard recorded else { return 0 }
                        let attendees = try await sql.raw("""
                            SELECT user_id FROM rsvps WHERE event_id = \(bind: id) AND status = 'going' ORDER BY user_id
                            """).all().map { try $0.decode(column: "user_id", as: String.self) }
                        for attendee in attendees {
                            try await self.emitEvent(sql, InteractionTopic.eventReminder, event, user: attendee, lead: lead, now: now)
                        }
                        return attendees.count
                    }
                } catch {
                    logger.error("event reminder failed; retried at the next run", metadata: ["event": "\(id)", "lead": "\(lead)", "error": "\(error)"])
                }
            }
        }
        return written
    }

    // MARK: Calendars

    /// One event as an iCalendar (RFC 5545) document. The join URL is in it only when the
    /// caller would see it in ``event(_:user:)``; a cancelled event says `STATUS:CANCELLED`.
    public func eventCalendar(_ request: ContentEventCalendarRequest, user: UserID?) async throws -> ContentCalendar {
        let record = try await eventRecord(request.eventID)
        let messages = try await eventMessages([record], user: user)
        return calendar(name: record.title, records: [record], messages: messages)
    }

    /// The events the caller is going to, in every community, from those ended less than 30
    /// days ago on, as one iCalendar (RFC 5545) document named "Guild".
    public func myCalendar(_ request: ContentMyCalendarRequest, user: UserID) async throws -> ContentCalendar {
        let since = clock.now().millisecondsSince1970 - Self.calendarKeepsEndedMs
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT e.* FROM events e JOIN rsvps r ON r.event_id = e.id
                WHERE r.user_id = \(bind: user.rawValue) AND r.status = 'going' AND \(unsafeRaw: Self.eventEndSQL("e.")) > \(bind: since)
                ORDER BY e.start_ms, e.id LIMIT 1000
                """).all()
        }
        let records = try rows.map(EventRecord.init(row:))
        return calendar(name: "Guild", records: records, messages: try await eventMessages(records, user: user))
    }

    /// Makes a new private address of the caller's calendar, for calendar applications that
    /// subscribe to a URL and cannot send a token. Only the secret's SHA-256 is stored; the
    /// previous address stops working.
    public func rotateCalendarFeed(user: UserID) async throws -> ContentCalendarFeed {
        let secret = Bytes.random(32).hexString
        let now = clock.now()
        try await database.transaction { sql in
            try await sql.raw("""
                INSERT INTO calendar_feeds (user_id, secret_hash, created_at_ms)
                VALUES (\(bind: user.rawValue), \(bind: SHA256.hash(data: Array(secret.utf8)).hexString), \(bind: now.millisecondsSince1970))
                ON CONFLICT (user_id) DO UPDATE SET secret_hash = excluded.secret_hash, created_at_ms = excluded.created_at_ms
                """).run()
        }
        var feed = ContentCalendarFeed()
        feed.path = "/api/v1/calendar-feeds/\(secret)/calendar.ics"
        return feed
    }

    /// The calendar behind a private address: what ``myCalendar(_:user:)`` gives its owner.
    public func feedCalendar(_ request: ContentFeedCalendarRequest) async throws -> ContentCalendar {
        let noSuchFeed = GuildError(.notFound, "No such calendar.")
        guard request.secret.utf8.count == 64, request.secret.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { throw noSuchFeed }
        let hash = SHA256.hash(data: Array(request.secret.utf8)).hexString
        guard let owner = try await database.withConnection({ sql in
            try await sql.raw("SELECT user_id FROM calendar_feeds WHERE secret_hash = \(bind: hash)").first()?.decode(column: "user_id", as: String.self)
        }) else { throw noSuchFeed }
        return try await myCalendar(ContentMyCalendarRequest(), user: UserID(owner))
    }

    private func calendar(name: String, records: [EventRecord], messages: [ContentEvent]) -> ContentCalendar {
        let events = zip(records, messages).map { record, message in
            ICalendar.Event(
                uid: "\(record.id)@guild",
                start: Date(millisecondsSince1970: record.startMs),
                end: Date(millisecondsSince1970: record.endMs),
                summary: record.title,
                description: "\(record.title) — \(record.location.isEmpty ? "online" : record.location)\n/api/v1/events/\(record.id)",
                location: record.location,
                url: message.joinURL,
                status: record.status == "cancelled" ? "CANCELLED" : "CONFIRMED",
                created: Date(millisecondsSince1970: record.createdAtMs),
                sequence: record.status == "cancelled" ? 1 : 0)
        }
        var calendar = ContentCalendar()
        calendar.ics = ICalendar(name: name, events: events).render(stamp: clock.now())
        return calendar
    }

    // MARK: Helpers

    static let noSuchEvent = GuildError(.notFound, "No such event.")

    /// The end of an event (start plus its length), in SQL over the `events` columns.
    static func eventEndSQL(_ prefix: String = "") -> String { "(\(prefix)start_ms + CAST(\(prefix)duration_minutes AS BIGINT) * 60000)" }

    private func eventRecord(_ id: String) async throws -> EventRecord {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM events WHERE id = \(bind: id)").first() }) else {
            throw Self.noSuchEvent
        }
        return try EventRecord(row: row)
    }

    /// The event, read again after locking its row for the rest of the transaction (a no-op
    /// update: PostgreSQL holds the row until the commit; SQLite's transaction holds the
    /// database), so RSVP changes of one event happen one after another.
    private func lockEvent(_ sql: any SQLDatabase, _ id: String) async throws -> EventRecord {
        guard let row = try await sql.raw("UPDATE events SET capacity = capacity WHERE id = \(bind: id) RETURNING *").first() else {
            throw Self.noSuchEvent
        }
        return try EventRecord(row: row)
    }

    private static func requireOpen(_ event: EventRecord, now: Date) throws {
        guard event.status == "scheduled" else { throw GuildError(.failedPrecondition, "The event was cancelled.", reason: "event_cancelled") }
        guard event.endMs > now.millisecondsSince1970 else { throw GuildError(.failedPrecondition, "The event is over.", reason: "event_ended") }
    }

    private static func attendanceRefused(_ event: EventRecord) -> GuildError {
        GuildError(.permissionDenied, event.accessMode == "plans" ? "Hold one of the plans named on the event to attend." : "Join the community to attend.",
                   reason: "membership_required")
    }

    /// Refuses unless the caller created the event or may manage others' events.
    private func authorizeManaging(_ event: EventRecord, user: UserID) async throws {
        guard user.rawValue != event.createdBy else { return }
        let standing = try await access.standing(of: user, in: event.communityID)
        try Self.interactionPolicy.authorize(InteractionOperation.manageOthersEvents, role: standing.role)
    }

    private func goingCount(_ sql: any SQLDatabase, _ event: String) async throws -> Int {
        Int(try await sql.raw("""
            SELECT CAST(COUNT(*) AS BIGINT) AS n FROM rsvps WHERE event_id = \(bind: event) AND status = 'going'
            """).first()?.decode(column: "n", as: Int64.self) ?? 0)
    }

    /// Places taken and the caller's RSVP, per event.
    private struct Attendance {
        var going = 0
        var waitlisted = 0
        var mine = ""
        var position = 0
    }

    private func attendance(of events: [String], user: UserID?) async throws -> [String: Attendance] {
        guard !events.isEmpty else { return [:] }
        let ids: [any Encodable & Sendable] = events
        return try await database.withConnection { sql in
            var result: [String: Attendance] = [:]
            let counts = try await sql.raw("""
                SELECT event_id, status, CAST(COUNT(*) AS BIGINT) AS n FROM rsvps
                WHERE event_id IN (\(binds: ids)) AND status IN ('going', 'waitlisted') GROUP BY event_id, status
                """).all()
            for row in counts {
                let id = try row.decode(column: "event_id", as: String.self)
                let n = Int(try row.decode(column: "n", as: Int64.self))
                if try row.decode(column: "status", as: String.self) == "going" { result[id, default: .init()].going = n } else { result[id, default: .init()].waitlisted = n }
            }
            guard let user else { return result }
            let mine = try await sql.raw("""
                SELECT r.event_id AS event_id, r.status AS status,
                       (SELECT CAST(COUNT(*) AS BIGINT) FROM rsvps w
                        WHERE w.event_id = r.event_id AND w.status = 'waitlisted'
                          AND (w.queued_at_ms < r.queued_at_ms OR (w.queued_at_ms = r.queued_at_ms AND w.user_id < r.user_id))) AS ahead
                FROM rsvps r WHERE r.user_id = \(bind: user.rawValue) AND r.event_id IN (\(binds: ids))
                """).all()
            for row in mine {
                let id = try row.decode(column: "event_id", as: String.self)
                let status = try row.decode(column: "status", as: String.self)
                result[id, default: .init()].mine = status
                if status == "waitlisted" { result[id, default: .init()].position = Int(try row.decode(column: "ahead", as: Int64.self)) + 1 }
            }
            return result
        }
    }

    /// The messages of `records` for the caller: their standing is asked once per community
    /// (before any database work), then places and RSVPs are read in one go.
    private func eventMessages(_ records: [EventRecord], user: UserID?) async throws -> [ContentEvent] {
        var standings: [CommunityID: MembershipAccess.Standing] = [:]
        for community in Set(records.map(\.communityID)) {
            standings[community] = try await access.standing(of: user, in: community)
        }
        let attendance = try await attendance(of: records.map(\.id), user: user)
        let now = clock.now().millisecondsSince1970
        return records.map { record in
            record.message(user: user, standing: standings[record.communityID] ?? .none, attendance: attendance[record.id] ?? .init(), now: now)
        }
    }

    private func emitEvent(_ sql: any SQLDatabase, _ topic: String, _ record: EventRecord, user: String, lead: Int = 0, now: Date) async throws {
        var event = ContentEventEvent()
        event.eventID = record.id
        event.communityID = record.communityID.rawValue
        event.userID = user
        event.title = record.title
        event.startMs = record.startMs
        event.leadMinutes = Int32(lead)
        event.occurredAtMs = now.millisecondsSince1970
        try await emit(sql, topic, event, at: now)
    }

    /// One row of `events`.
    private struct EventRecord {
        var id: String
        var communityID: CommunityID
        var kind: String
        var title: String
        var descriptionHTML: String
        var startMs: Int64
        var durationMinutes: Int
        var timeZone: String
        var joinURL: String
        var location: String
        var capacity: Int
        var accessMode: String
        var accessPlans: [String]
        var status: String
        var replayItemID: String
        var replayAttachmentID: String
        var createdBy: String
        var createdAtMs: Int64

        init(row: any SQLRow) throws {
            id = try row.decode(column: "id", as: String.self)
            communityID = CommunityID(try row.decode(column: "community_id", as: String.self))
            kind = try row.decode(column: "kind", as: String.self)
            title = try row.decode(column: "title", as: String.self)
            descriptionHTML = try row.decode(column: "description_html", as: String.self)
            startMs = try row.decode(column: "start_ms", as: Int64.self)
            durationMinutes = try row.decode(column: "duration_minutes", as: Int.self)
            timeZone = try row.decode(column: "time_zone", as: String.self)
            joinURL = try row.decode(column: "join_url", as: String.self)
            location = try row.decode(column: "location", as: String.self)
            capacity = try row.decode(column: "capacity", as: Int.self)
            accessMode = try row.decode(column: "access_mode", as: String.self)
            accessPlans = ItemRecord.list(try row.decode(column: "access_plans", as: String.self))
            status = try row.decode(column: "status", as: String.self)
            replayItemID = try row.decode(column: "replay_item_id", as: String.self)
            replayAttachmentID = try row.decode(column: "replay_attachment_id", as: String.self)
            createdBy = try row.decode(column: "created_by", as: String.self)
            createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        }

        var endMs: Int64 { startMs + Int64(durationMinutes) * 60_000 }

        /// Whether the event's access lets the caller attend: public → anyone signed in;
        /// members → any role in the community; plans → staff or holders of a named plan.
        func canAttend(user: UserID?, standing: MembershipAccess.Standing) -> Bool {
            // Attending needs an account, even for a public event.
            guard let user else { return false }
            return (AccessMode(rawValue: accessMode) ?? .members).admits(user, standing: standing, owner: UserID(createdBy), plans: accessPlans)
        }

        func message(user: UserID?, standing: MembershipAccess.Standing, attendance: Attendance, now: Int64) -> ContentEvent {
            var event = ContentEvent()
            event.id = id
            event.communityID = communityID.rawValue
            event.kind = kind
            event.title = title
            event.descriptionHtml = descriptionHTML
            event.start = Date(millisecondsSince1970: startMs).timestamp
            event.durationMinutes = Int32(durationMinutes)
            event.timeZone = timeZone
            event.location = location
            event.capacity = Int32(capacity)
            event.accessMode = accessMode
            event.accessPlans = accessPlans
            event.status = status
            event.going = Int32(attendance.going)
            event.waitlisted = Int32(attendance.waitlisted)
            event.myRsvp = attendance.mine
            event.myWaitlistPosition = Int32(attendance.position)
            event.replayItemID = replayItemID
            event.replayAttachmentID = replayAttachmentID
            event.canAttend = canAttend(user: user, standing: standing)
            event.createdBy = createdBy
            let opened = kind != "live" || (now >= startMs - ContentService.eventJoinLeadMs && now <= endMs)
            if status == "scheduled", event.canAttend, attendance.mine == "going" || standing.isStaff, opened {
                event.joinURL = joinURL
            }
            return event
        }
    }
}
