import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Live sessions and events: places and the waiting list, access, the join window, reminders,
/// calendars and replays.
extension InteractionScenarios {
    static let eventScenarios: [String: Scenario] = [
        "event: creating checks its fields and who hosts": eventCreation,
        "event: capacity, waiting list and promotion": eventWaitingList,
        "event: concurrent RSVPs never overfill": eventConcurrentRsvps,
        "event: access refuses strangers and hides the join URL": eventAccess,
        "event: live session join window and attendance once": eventJoinWindow,
        "event: reminders before the start, once each": eventReminders,
        "event: iCalendar per event and per member": eventCalendars,
        "event: a private calendar address works without a token until it is replaced": eventCalendarFeed,
        "event: cancelling": eventCancelling,
        "event: replay attached after the start, from the community": eventReplay,
    ]

    static let eventStranger = UserID("stranger-001")
    static func eventMember(_ n: Int) -> UserID { UserID("member-0000\(n)") }

    /// An event of the fixture's community, starting `startsIn` seconds from now.
    static func makeEvent(
        _ f: ContentFixture, kind: String = "online", title: String = "Swift meetup", startsIn: TimeInterval = 7200,
        duration: Int32 = 60, capacity: Int32 = 0, mode: String = "members", plans: [String] = [],
        joinURL: String = "https://meet.example.com/swift", location: String = "", by user: UserID? = nil
    ) async throws -> ContentEvent {
        try await f.content.createEvent(
            eventRequest(f, kind: kind, title: title, startsIn: startsIn, duration: duration, capacity: capacity, mode: mode, plans: plans,
                         joinURL: joinURL, location: location),
            user: user ?? f.owner)
    }

    static func eventRequest(
        _ f: ContentFixture, kind: String = "online", title: String = "Swift meetup", startsIn: TimeInterval = 7200,
        duration: Int32 = 60, capacity: Int32 = 0, mode: String = "members", plans: [String] = [],
        joinURL: String = "https://meet.example.com/swift", location: String = ""
    ) -> ContentCreateEventRequest {
        var request = ContentCreateEventRequest()
        request.communityID = f.community.id
        request.kind = kind
        request.title = title
        request.description_p = "Bring **questions**."
        request.start = Google_Protobuf_Timestamp(date: f.clock.now().addingTimeInterval(startsIn))
        request.durationMinutes = duration
        request.joinURL = joinURL
        request.location = location
        request.capacity = capacity
        request.accessMode = mode
        request.accessPlans = plans
        return request
    }

    static func rsvp(_ f: ContentFixture, _ event: ContentEvent, _ user: UserID) async throws -> ContentEvent {
        var request = ContentRsvpRequest()
        request.eventID = event.id
        return try await f.content.rsvp(request, user: user)
    }

    static func cancelRsvp(_ f: ContentFixture, _ event: ContentEvent, _ user: UserID) async throws -> ContentEvent {
        var request = ContentCancelRsvpRequest()
        request.eventID = event.id
        return try await f.content.cancelRsvp(request, user: user)
    }

    static func read(_ f: ContentFixture, _ event: ContentEvent, as user: UserID?) async throws -> ContentEvent {
        var request = ContentGetEventRequest()
        request.eventID = event.id
        return try await f.content.event(request, user: user)
    }

    static func join(_ f: ContentFixture, _ event: ContentEvent, _ user: UserID) async throws -> ContentEvent {
        var request = ContentJoinEventRequest()
        request.eventID = event.id
        return try await f.content.joinEvent(request, user: user)
    }

    static func cancel(_ f: ContentFixture, _ event: ContentEvent, by user: UserID, reason: String = "") async throws -> ContentEvent {
        var request = ContentCancelEventRequest()
        request.eventID = event.id
        request.reason = reason
        return try await f.content.cancelEvent(request, user: user)
    }

    /// The events of `topic` in content's outbox.
    static func eventEvents(_ f: ContentFixture, _ topic: String) async throws -> [ContentEventEvent] {
        try await f.outbox().filter { $0.0 == topic }.map { try ContentEventEvent(serializedBytes: $0.1) }
    }

    static func eventCreation(_ f: ContentFixture) async throws {
        // Defaults: the community's time zone and members-only access.
        var zone = ContentUpdateSettingsRequest()
        zone.communityID = f.community.id
        zone.timeZone = "Asia/Shanghai"
        _ = try await f.content.updateSettings(zone, user: f.owner)
        var request = eventRequest(f, mode: "")
        request.title = "  Swift meetup  "
        let event = try await f.content.createEvent(request, user: f.owner)
        #expect(event.timeZone == "Asia/Shanghai")
        #expect(event.accessMode == "members")
        #expect(event.title == "Swift meetup")
        #expect(event.descriptionHtml.contains("<strong>questions</strong>"))
        #expect(event.status == "scheduled")
        #expect(event.createdBy == f.owner.rawValue)
        request.timeZone = "Europe/Berlin"
        #expect(try await f.content.createEvent(request, user: f.owner).timeZone == "Europe/Berlin")
        // A guest expert hosts; a member, a moderator and a stranger do not.
        #expect(try await makeEvent(f, by: f.expert).createdBy == f.expert.rawValue)
        try await f.join(eventMember(1))
        for user in [eventMember(1), f.moderator, eventStranger] {
            #expect(await thrownError { _ = try await makeEvent(f, by: user) }?.code == .permissionDenied)
        }
        // Each bad field is named.
        func field(_ change: (inout ContentCreateEventRequest) -> Void) async -> [String] {
            var bad = eventRequest(f)
            change(&bad)
            return await thrownError { _ = try await f.content.createEvent(bad, user: f.owner) }?.fieldViolations.map(\.field) ?? []
        }
        #expect(await field { $0.kind = "webinar" } == ["kind"])
        #expect(await field { $0.title = " " } == ["title"])
        #expect(await field { $0.title = String(repeating: "x", count: 201) } == ["title"])
        #expect(await field { $0.description_p = String(repeating: "x", count: 20_001) } == ["description"])
        #expect(await field { $0.start = Google_Protobuf_Timestamp(date: f.clock.now().addingTimeInterval(-60)) } == ["start"])
        #expect(await field { $0.clearStart() } == ["start"])
        #expect(await field { $0.durationMinutes = 4 } == ["durationMinutes"])
        #expect(await field { $0.durationMinutes = 1441 } == ["durationMinutes"])
        #expect(await field { $0.timeZone = "Mars/Olympus" } == ["timeZone"])
        #expect(await field { $0.joinURL = "" } == ["joinUrl"])
        #expect(await field { $0.joinURL = "ftp://example.com/x" } == ["joinUrl"])
        #expect(await field { $0.joinURL = "javascript:alert(1)" } == ["joinUrl"])
        #expect(await field { $0.joinURL = "https://example.com/" + String(repeating: "a", count: 2000) } == ["joinUrl"])
        #expect(await field { $0.kind = "offline" } == ["location"])
        #expect(await field { $0.location = String(repeating: "x", count: 501) } == ["location"])
        #expect(await field { $0.capacity = -1 } == ["capacity"])
        #expect(await field { $0.accessMode = "everyone" } == ["accessMode"])
        #expect(await field { $0.accessMode = "plans" } == ["accessPlans"])
        // An event at a place needs no join URL; a live session must have one.
        let meetup = try await makeEvent(f, kind: "offline", joinURL: "", location: "Café Kraken, Berlin")
        #expect(meetup.location == "Café Kraken, Berlin")
        #expect(await field { $0.kind = "live"; $0.joinURL = "" } == ["joinUrl"])
    }

    static func eventWaitingList(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, capacity: 2)
        for n in 1...3 { try await f.join(eventMember(n)) }
        #expect(try await rsvp(f, event, eventMember(1)).myRsvp == "going")
        // The clock moves between RSVPs: the waiting list is ordered by when each queued.
        f.clock.advance(by: 1)
        #expect(try await rsvp(f, event, eventMember(2)).myRsvp == "going")
        f.clock.advance(by: 1)
        let third = try await rsvp(f, event, eventMember(3))
        #expect(third.myRsvp == "waitlisted")
        #expect(third.myWaitlistPosition == 1)
        #expect(third.going == 2)
        #expect(third.waitlisted == 1)
        // RSVP twice changes nothing and writes no second event.
        let rsvpsBefore = try await eventEvents(f, ContentService.InteractionTopic.eventRsvp).count
        #expect(rsvpsBefore == 3)
        let again = try await rsvp(f, event, eventMember(1))
        #expect(again.myRsvp == "going")
        #expect(again.going == 2)
        #expect(try await rsvp(f, event, eventMember(3)).myWaitlistPosition == 1)
        #expect(try await eventEvents(f, ContentService.InteractionTopic.eventRsvp).count == rsvpsBefore)
        // A going member gives their place back: the one waiting takes it.
        let left = try await cancelRsvp(f, event, eventMember(1))
        #expect(left.myRsvp == "cancelled")
        #expect(left.going == 2)
        #expect(left.waitlisted == 0)
        let promotedView = try await read(f, event, as: eventMember(3))
        #expect(promotedView.myRsvp == "going")
        #expect(promotedView.myWaitlistPosition == 0)
        let promoted = try await eventEvents(f, ContentService.InteractionTopic.eventPromoted)
        #expect(promoted.map(\.userID) == [eventMember(3).rawValue])
        #expect(promoted.first?.eventID == event.id)
        // Cancelling again is a no-op; coming back joins the end of the waiting list.
        #expect(try await cancelRsvp(f, event, eventMember(1)).myRsvp == "cancelled")
        #expect(try await eventEvents(f, ContentService.InteractionTopic.eventPromoted).count == 1)
        let back = try await rsvp(f, event, eventMember(1))
        #expect(back.myRsvp == "waitlisted")
        #expect(back.myWaitlistPosition == 1)
        // A waiting member leaving gives no place away.
        #expect(try await cancelRsvp(f, event, eventMember(1)).going == 2)
        #expect(try await eventEvents(f, ContentService.InteractionTopic.eventPromoted).count == 1)
        // A list shows the event with its counts; past events are listed apart.
        var list = ContentListEventsRequest()
        list.communityID = f.community.id
        let upcoming = try await f.content.events(list, user: eventMember(2)).events
        #expect(upcoming.map(\.id) == [event.id])
        #expect(upcoming.first?.going == 2)
        #expect(upcoming.first?.myRsvp == "going")
        list.past = true
        #expect(try await f.content.events(list, user: eventMember(2)).events.isEmpty)
        f.clock.advance(by: 3 * 3600)
        #expect(try await f.content.events(list, user: eventMember(2)).events.map(\.id) == [event.id])
        // An event that has ended takes no RSVPs.
        #expect(await thrownError { _ = try await rsvp(f, event, eventMember(1)) }?.reason == "event_ended")
    }

    static func eventConcurrentRsvps(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, capacity: 2)
        let members = (1...6).map(eventMember)
        for member in members { try await f.join(member) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for member in members { group.addTask { _ = try await rsvp(f, event, member) } }
            try await group.waitForAll()
        }
        let seen = try await read(f, event, as: f.owner)
        #expect(seen.going == 2)
        #expect(seen.waitlisted == 4)
        var positions: [Int32] = []
        for member in members {
            let mine = try await read(f, event, as: member)
            if mine.myRsvp == "waitlisted" { positions.append(mine.myWaitlistPosition) }
        }
        #expect(positions.sorted() == [1, 2, 3, 4])
    }

    static func eventAccess(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, location: "Room 101")
        try await f.join(eventMember(1))
        try await f.join(eventMember(2))
        // Listed to everybody, with its place; the join URL to none who are not going.
        for user in [nil, eventStranger, eventMember(1)] {
            let seen = try await read(f, event, as: user)
            #expect(seen.title == "Swift meetup")
            #expect(seen.location == "Room 101")
            #expect(seen.joinURL.isEmpty)
            #expect(!seen.everything.contains("meet.example.com"))
            #expect(seen.canAttend == (user == eventMember(1)))
        }
        // A stranger may not take a place in a members-only event.
        let refused = await thrownError { _ = try await rsvp(f, event, eventStranger) }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.reason == "membership_required")
        #expect(await thrownError { _ = try await join(f, event, eventStranger) }?.reason == "membership_required")
        // A member who is going gets it; staff get it without an RSVP.
        #expect(try await rsvp(f, event, eventMember(1)).joinURL == "https://meet.example.com/swift")
        #expect(try await read(f, event, as: eventMember(2)).joinURL.isEmpty)
        #expect(try await read(f, event, as: f.moderator).joinURL == "https://meet.example.com/swift")
        // A public event takes anyone signed in.
        let open = try await makeEvent(f, title: "Open day", mode: "public")
        #expect(try await read(f, open, as: nil).canAttend == false)
        #expect(try await rsvp(f, open, eventStranger).myRsvp == "going")
        // A plans event takes holders of the named plans (and staff) only.
        var yearly = MembershipCreatePlanRequest()
        yearly.communityID = f.community.id
        yearly.name = "Yearly"
        yearly.priceMinorUnits = 99_900
        yearly.period = "yearly"
        let yearlyPlan = try await f.membership.createPlan(yearly, user: f.owner)
        let vip = try await makeEvent(f, title: "VIP dinner", mode: "plans", plans: [yearlyPlan.id])
        #expect(vip.accessPlans == [yearlyPlan.id])
        #expect(await thrownError { _ = try await rsvp(f, vip, eventMember(1)) }?.reason == "membership_required")
        try await f.join(eventMember(3), plan: yearlyPlan)
        #expect(try await rsvp(f, vip, eventMember(3)).myRsvp == "going")
        #expect(try await read(f, vip, as: f.expert).canAttend)
    }

    static func eventJoinWindow(_ f: ContentFixture) async throws {
        let live = try await makeEvent(f, kind: "live", startsIn: 3600, duration: 30, joinURL: "https://live.example.com/s/1")
        try await f.join(eventMember(1))
        try await f.join(eventMember(2))
        // Going, but a live session's URL waits for 15 minutes before the start.
        let going = try await rsvp(f, live, eventMember(1))
        #expect(going.myRsvp == "going")
        #expect(going.joinURL.isEmpty)
        let early = await thrownError { _ = try await join(f, live, eventMember(1)) }
        #expect(early?.code == .failedPrecondition)
        #expect(early?.reason == "not_started")
        f.clock.advance(by: 50 * 60)  // 10 minutes before the start
        #expect(try await read(f, live, as: eventMember(1)).joinURL == "https://live.example.com/s/1")
        #expect(try await read(f, live, as: eventMember(2)).joinURL.isEmpty)
        #expect(await thrownError { _ = try await join(f, live, eventMember(2)) }?.reason == "rsvp_required")
        let joined = try await join(f, live, eventMember(1))
        #expect(joined.joinURL == "https://live.example.com/s/1")
        f.clock.advance(by: 60)
        _ = try await join(f, live, eventMember(1))
        let attended = try await eventEvents(f, ContentService.InteractionTopic.eventAttended)
        #expect(attended.map(\.userID) == [eventMember(1).rawValue])
        // The host joins without an RSVP; nothing is recorded for them.
        #expect(try await join(f, live, f.owner).joinURL == "https://live.example.com/s/1")
        #expect(try await eventEvents(f, ContentService.InteractionTopic.eventAttended).count == 1)
        // Over: no URL, no joining.
        f.clock.advance(by: 41 * 60)
        #expect(try await read(f, live, as: eventMember(1)).joinURL.isEmpty)
        #expect(await thrownError { _ = try await join(f, live, eventMember(1)) }?.reason == "event_ended")
    }

    static func eventReminders(_ f: ContentFixture) async throws {
        let soon = try await makeEvent(f, startsIn: 2 * 3600, capacity: 1)
        let later = try await makeEvent(f, title: "Next week", startsIn: 7 * 86_400)
        try await f.join(eventMember(1))
        try await f.join(eventMember(2))
        _ = try await rsvp(f, soon, eventMember(1))
        #expect(try await rsvp(f, soon, eventMember(2)).myRsvp == "waitlisted")
        _ = try await rsvp(f, later, eventMember(1))
        // 2 hours ahead: the 24-hour reminder now, to the one going (not the one waiting).
        #expect(try await f.content.sendEventReminders() == 1)
        var reminders = try await eventEvents(f, ContentService.InteractionTopic.eventReminder)
        #expect(reminders.map(\.leadMinutes) == [1440])
        #expect(reminders.map(\.userID) == [eventMember(1).rawValue])
        #expect(reminders.first?.eventID == soon.id)
        #expect(try await f.content.sendEventReminders() == 0)
        f.clock.advance(by: 30 * 60)
        #expect(try await f.content.sendEventReminders() == 0)
        // 55 minutes before the start: the 1-hour reminder, once.
        f.clock.advance(by: 35 * 60)
        #expect(try await f.content.sendEventReminders() == 1)
        #expect(try await f.content.sendEventReminders() == 0)
        reminders = try await eventEvents(f, ContentService.InteractionTopic.eventReminder)
        #expect(reminders.map(\.leadMinutes) == [1440, 60])
        // Never after the start, and never for a cancelled event.
        let tooLate = try await makeEvent(f, title: "Created late", startsIn: 600)
        _ = try await rsvp(f, tooLate, eventMember(2))
        _ = try await cancel(f, tooLate, by: f.owner)
        f.clock.advance(by: 7 * 86_400 - 2 * 3600 - 65 * 60)  // 2 hours before "Next week"
        #expect(try await f.content.sendEventReminders() == 1)
        f.clock.advance(by: 2 * 86_400)
        #expect(try await f.content.sendEventReminders() == 0)
        reminders = try await eventEvents(f, ContentService.InteractionTopic.eventReminder)
        #expect(reminders.map(\.eventID) == [soon.id, soon.id, later.id])
    }

    static func eventCalendars(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, title: "Swift; meetup, Berlin", startsIn: 2 * 3600, location: "Room 101")
        let other = try await makeEvent(f, title: "Other", startsIn: 3 * 3600)
        let left = try await makeEvent(f, title: "Left", startsIn: 4 * 3600)
        try await f.join(eventMember(1))
        _ = try await rsvp(f, event, eventMember(1))
        _ = try await rsvp(f, left, eventMember(1))
        _ = try await cancelRsvp(f, left, eventMember(1))
        var request = ContentEventCalendarRequest()
        request.eventID = event.id
        let ics = try await f.content.eventCalendar(request, user: nil).ics
        #expect(ics.hasPrefix("BEGIN:VCALENDAR\r\n"))
        #expect(ics.contains("BEGIN:VEVENT\r\n"))
        #expect(ics.contains("UID:\(event.id)@guild\r\n"))
        #expect(ics.contains("DTSTART:20260101T020000Z\r\n"))
        #expect(ics.contains("DTEND:20260101T030000Z\r\n"))
        #expect(ics.contains("SUMMARY:Swift\\; meetup\\, Berlin\r\n"))
        #expect(ics.contains("LOCATION:Room 101\r\n"))
        #expect(ics.contains("STATUS:CONFIRMED\r\n"))
        #expect(ics.hasSuffix("END:VCALENDAR\r\n"))
        let bytes = Array(ics.utf8)
        let lineFeeds = bytes.indices.filter { bytes[$0] == 0x0A }
        #expect(!lineFeeds.isEmpty)
        #expect(lineFeeds.allSatisfy { $0 > 0 && bytes[$0 - 1] == 0x0D })
        #expect(bytes.filter { $0 == 0x0D }.count == lineFeeds.count)
        // The join URL only for those who would see it.
        #expect(!ics.contains("meet.example.com"))
        #expect(try await f.content.eventCalendar(request, user: eventMember(1)).ics.contains("URL:https://meet.example.com/swift\r\n"))
        // The member's calendar holds what they are going to, and nothing else.
        let mine = try await f.content.myCalendar(ContentMyCalendarRequest(), user: eventMember(1)).ics
        #expect(mine.contains("X-WR-CALNAME:Guild\r\n"))
        #expect(mine.contains("UID:\(event.id)@guild"))
        #expect(!mine.contains("UID:\(other.id)@guild"))
        #expect(!mine.contains("UID:\(left.id)@guild"))
        #expect(mine.components(separatedBy: "BEGIN:VEVENT").count == 2)
        #expect(!(try await f.content.myCalendar(ContentMyCalendarRequest(), user: eventStranger).ics.contains("BEGIN:VEVENT")))
        // Cancelled: both calendars say so.
        _ = try await cancel(f, event, by: f.owner, reason: "Speaker ill")
        let cancelled = try await f.content.eventCalendar(request, user: eventMember(1)).ics
        #expect(cancelled.contains("STATUS:CANCELLED\r\n"))
        #expect(!cancelled.contains("URL:"))
        #expect(try await f.content.myCalendar(ContentMyCalendarRequest(), user: eventMember(1)).ics.contains("STATUS:CANCELLED\r\n"))
        // Events ended more than 30 days ago leave the calendar.
        f.clock.advance(by: 31 * 86_400)
        #expect(!(try await f.content.myCalendar(ContentMyCalendarRequest(), user: eventMember(1)).ics.contains("BEGIN:VEVENT")))
    }

    static func eventCalendarFeed(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, title: "Feed meetup")
        try await f.join(eventMember(1))
        _ = try await rsvp(f, event, eventMember(1))
        let feed = try await f.content.rotateCalendarFeed(user: eventMember(1))
        #expect(feed.path.hasPrefix("/api/v1/calendar-feeds/") && feed.path.hasSuffix("/calendar.ics"))
        let secret = String(feed.path.dropFirst("/api/v1/calendar-feeds/".count).dropLast("/calendar.ics".count))
        #expect(secret.count == 64)
        // Read with the secret alone: the member's calendar, join URL included.
        let ics = try await f.content.feedCalendar(ContentFeedCalendarRequest.with { $0.secret = secret }).ics
        #expect(ics.contains("UID:\(event.id)@guild") && ics.contains("URL:https://meet.example.com/swift"))
        // Only the secret's hash is stored.
        let stored = try await f.content.database.withConnection { sql in
            try await sql.raw("SELECT secret_hash FROM calendar_feeds").all().map { try $0.decode(column: "secret_hash", as: String.self) }
        }
        #expect(stored.count == 1 && !stored.contains(secret))
        // A new address replaces the old one; wrong or malformed secrets are not found.
        let next = try await f.content.rotateCalendarFeed(user: eventMember(1))
        #expect(next.path != feed.path)
        #expect(await thrownError { _ = try await f.content.feedCalendar(ContentFeedCalendarRequest.with { $0.secret = secret }) }?.code == .notFound)
        #expect(await thrownError { _ = try await f.content.feedCalendar(ContentFeedCalendarRequest.with { $0.secret = "../../etc" }) }?.code == .notFound)
        #expect(await thrownError { _ = try await f.content.feedCalendar(ContentFeedCalendarRequest.with { $0.secret = String(repeating: "0", count: 64) }) }?.code == .notFound)
    }

    static func eventCancelling(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, by: f.expert)
        try await f.join(eventMember(1))
        _ = try await rsvp(f, event, eventMember(1))
        // Its creator or the owners; not a member, a moderator, or another host.
        let owners = try await makeEvent(f, title: "The owner's")
        #expect(await thrownError { _ = try await cancel(f, owners, by: f.expert) }?.code == .permissionDenied)
        for user in [eventMember(1), f.moderator] {
            #expect(await thrownError { _ = try await cancel(f, event, by: user) }?.code == .permissionDenied)
        }
        #expect(await thrownError { _ = try await cancel(f, event, by: f.expert, reason: String(repeating: "x", count: 501)) }?.fieldViolations.map(\.field) == ["reason"])
        let cancelled = try await cancel(f, event, by: f.expert, reason: "Travel")
        #expect(cancelled.status == "cancelled")
        #expect(try await cancel(f, owners, by: f.owner).status == "cancelled")
        // No new RSVPs, no joining, no URL; cancelling again is harmless.
        try await f.join(eventMember(2))
        #expect(await thrownError { _ = try await rsvp(f, event, eventMember(2)) }?.reason == "event_cancelled")
        #expect(try await read(f, event, as: eventMember(1)).joinURL.isEmpty)
        f.clock.advance(by: 7200)
        #expect(await thrownError { _ = try await join(f, event, eventMember(1)) }?.reason == "event_cancelled")
        #expect(try await cancel(f, event, by: f.owner).status == "cancelled")
        #expect(await thrownError { _ = try await cancel(f, event, by: f.owner, reason: "x") } == nil)
        var get = ContentGetEventRequest()
        get.eventID = "nope"
        #expect(await thrownError { _ = try await f.content.event(get, user: nil) }?.code == .notFound)
    }

    static func eventReplay(_ f: ContentFixture) async throws {
        let event = try await makeEvent(f, kind: "live", startsIn: 3600)
        let recording = try await f.post("Replay", "The recording.")
        var upload = ContentAddAttachmentRequest()
        upload.itemID = recording.id
        upload.filename = "slides.pdf"
        upload.contentType = "application/pdf"
        upload.data = Data("%PDF-1.7 slides".utf8)
        let slides = try await f.content.addAttachment(upload, user: f.owner)
        func attach(item: String = "", attachment: String = "", by user: UserID? = nil) async throws -> ContentEvent {
            var request = ContentAttachReplayRequest()
            request.eventID = event.id
            request.itemID = item
            request.attachmentID = attachment
            return try await f.content.attachReplay(request, user: user ?? f.owner)
        }
        // Not before the start.
        let early = await thrownError { _ = try await attach(item: recording.id) }
        #expect(early?.code == .failedPrecondition)
        #expect(early?.reason == "not_started")
        f.clock.advance(by: 2 * 3600)
        // Only an item (or an attachment) of this community.
        var create = MembershipCreateCommunityRequest()
        create.slug = "rust-club"
        create.name = "Rust Club"
        let other = try await f.membership.createCommunity(create, user: f.owner)
        var elsewhere = ContentCreateItemRequest()
        elsewhere.communityID = other.id
        elsewhere.kind = "post"
        elsewhere.title = "Elsewhere"
        elsewhere.markdown = "Another community's post."
        elsewhere.access.mode = "members"
        let foreign = try await f.content.createItem(elsewhere, user: f.owner)
        #expect(await thrownError { _ = try await attach(item: foreign.id) }?.fieldViolations.map(\.field) == ["itemId"])
        #expect(await thrownError { _ = try await attach(item: "no-such-item") }?.fieldViolations.map(\.field) == ["itemId"])
        #expect(await thrownError { _ = try await attach(attachment: "no-such-file") }?.fieldViolations.map(\.field) == ["attachmentId"])
        #expect(await thrownError { _ = try await attach() }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await attach(item: recording.id, attachment: slides.id) }?.code == .invalidArgument)
        // Not by a member or a host who did not create it.
        try await f.join(eventMember(1))
        #expect(await thrownError { _ = try await attach(item: recording.id, by: eventMember(1)) }?.code == .permissionDenied)
        #expect(await thrownError { _ = try await attach(item: recording.id, by: f.expert) }?.code == .permissionDenied)
        let withItem = try await attach(item: recording.id)
        #expect(withItem.replayItemID == recording.id)
        #expect(try await read(f, event, as: eventMember(1)).replayItemID == recording.id)
        let withFile = try await attach(attachment: slides.id)
        #expect(withFile.replayAttachmentID == slides.id)
        #expect(withFile.replayItemID.isEmpty)
    }
}
